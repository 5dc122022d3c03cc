using System.Buffers.Binary;
using System.Text;

namespace CanKit.Engine;

/// <summary>
/// A read-only view of the dynamic-linking tables of a 64-bit little-endian ELF shared library (x86-64, arm64
/// Linux): the symbols it imports, the symbol versions it needs from each library (<c>.gnu.version_r</c>), the
/// versions it defines itself (<c>.gnu.version_d</c>), and which symbols its relocations use. That is what
/// <see cref="TorchSharpLoader"/> needs to decide whether the system's libraries satisfy a native library, and it
/// is read from the section headers, which the libraries compilers and package managers ship keep (a file stripped of
/// them is reported as unreadable, never guessed at).
/// </summary>
public sealed class ElfImage
{
    const uint ShtDynsym = 11, ShtDynamic = 6, ShtRela = 4, ShtRel = 9;
    const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    const long DtNeeded = 1, DtSoname = 14;
    /// <summary><c>VER_FLG_BASE</c>: the <c>.gnu.version_d</c> entry naming the file itself, not a version.</summary>
    const ushort VerFlgBase = 0x1;

    /// <summary>One version a library needs from another (a <c>Vernaux</c> entry of <c>.gnu.version_r</c>).</summary>
    /// <param name="File">the library it is needed from, as named in the ELF (<c>libstdc++.so.6</c>)</param>
    /// <param name="Version">the version name (<c>GLIBCXX_3.4.32</c>)</param>
    /// <param name="Index">the version index symbols carry in <c>.gnu.version</c> (<c>vna_other</c>)</param>
    /// <param name="Flags">vna_flags (0x2 = VER_FLG_WEAK: the loader does not fail when it is missing)</param>
    /// <param name="FlagsOffset">the file offset of the 2-byte vna_flags field</param>
    public sealed record VersionNeed(string File, string Version, ushort Index, ushort Flags, long FlagsOffset);

    /// <summary>One dynamic symbol and the version index from <c>.gnu.version</c> (0 when the file has none).</summary>
    public sealed record DynamicSymbol(int Index, string Name, bool Undefined, ushort VersionIndex);

    readonly byte[] bytes;
    readonly string source;

    public IReadOnlyList<VersionNeed> Needs { get; }
    /// <summary>The versions this library defines (<c>.gnu.version_d</c> minus the base entry).</summary>
    public IReadOnlySet<string> DefinedVersions { get; }
    public IReadOnlyList<DynamicSymbol> Symbols { get; }
    /// <summary>Indices into <see cref="Symbols"/> that some dynamic relocation refers to.</summary>
    public IReadOnlySet<int> RelocatedSymbols { get; }
    public IReadOnlyList<string> NeededLibraries { get; }
    public string? SoName { get; }

    ElfImage(byte[] bytes, string source)
    {
        this.bytes = bytes;
        this.source = source;
        if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
            throw Bad("not an ELF file");
        if (bytes[4] != 2 || bytes[5] != 1)
            throw Bad("only 64-bit little-endian ELF files are supported");

        var shoff = checked((long)U64(0x28));
        int shentsize = U16(0x3A), shnum = U16(0x3C);
        if (shoff == 0 || shnum == 0 || shentsize < 64 || shoff + (long)shnum * shentsize > bytes.Length)
            throw Bad("no section header table");
        var sections = new Section[shnum];
        for (int i = 0; i < shnum; i++)
        {
            var h = (int)(shoff + (long)i * shentsize);
            sections[i] = new Section(U32(h + 4), checked((long)U64(h + 24)), checked((long)U64(h + 32)), U32(h + 40), U32(h + 44));
            if (sections[i].Type != 8 /* SHT_NOBITS */ && sections[i].Offset + sections[i].Size > bytes.Length)
                throw Bad($"section {i} lies outside the file");
        }

        // Dynamic symbols and their versions.
        var symbols = new List<DynamicSymbol>();
        int dynsymIndex = Array.FindIndex(sections, s => s.Type == ShtDynsym);
        var versym = Array.Find(sections, s => s.Type == ShtGnuVersym);
        if (dynsymIndex >= 0)
        {
            var dynsym = sections[dynsymIndex];
            var strtab = sections[dynsym.Link];
            int count = (int)(dynsym.Size / 24);
            for (int i = 0; i < count; i++)
            {
                var e = (int)(dynsym.Offset + i * 24L);
                ushort ver = versym is null ? (ushort)0 : U16((int)(versym.Offset + 2L * i));
                symbols.Add(new DynamicSymbol(i, Str(strtab, U32(e)), U16(e + 6) == 0, ver));
            }
        }
        Symbols = symbols;

        // Which symbols the dynamic relocations use (only tables that point at .dynsym).
        var relocated = new HashSet<int>();
        foreach (var s in sections)
        {
            if ((s.Type != ShtRela && s.Type != ShtRel) || s.Link != dynsymIndex || dynsymIndex < 0) continue;
            int entsize = s.Type == ShtRela ? 24 : 16;
            for (long off = s.Offset; off + entsize <= s.Offset + s.Size; off += entsize)
                relocated.Add((int)(U64((int)off + 8) >> 32)); // r_info: symbol index in the high 32 bits
        }
        relocated.Remove(0);
        RelocatedSymbols = relocated;

        // .gnu.version_r: Verneed (16 bytes) → chain of Vernaux (16 bytes).
        var needs = new List<VersionNeed>();
        foreach (var s in sections.Where(s => s.Type == ShtGnuVerneed))
        {
            var strtab = sections[s.Link];
            long vn = s.Offset;
            for (uint n = 0; n < s.Info; n++)
            {
                string file = Str(strtab, U32((int)vn + 4));
                int cnt = U16((int)vn + 2);
                long aux = vn + U32((int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    // vna_hash u32 @0, vna_flags u16 @4, vna_other u16 @6, vna_name u32 @8, vna_next u32 @12
                    needs.Add(new VersionNeed(file, Str(strtab, U32((int)aux + 8)), U16((int)aux + 6), U16((int)aux + 4), aux + 4));
                    uint next = U32((int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnNext = U32((int)vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
        }
        Needs = needs;

        // .gnu.version_d: Verdef (20 bytes) → first Verdaux names the version.
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in sections.Where(s => s.Type == ShtGnuVerdef))
        {
            var strtab = sections[s.Link];
            long vd = s.Offset;
            for (uint n = 0; n < s.Info; n++)
            {
                ushort flags = U16((int)vd + 2);
                if (U16((int)vd + 6) > 0 && (flags & VerFlgBase) == 0)
                    defined.Add(Str(strtab, U32((int)(vd + U32((int)vd + 12)))));
                uint next = U32((int)vd + 16);
                if (next == 0) break;
                vd += next;
            }
        }
        DefinedVersions = defined;

        // .dynamic: DT_NEEDED and DT_SONAME.
        var neededLibs = new List<string>();
        foreach (var s in sections.Where(s => s.Type == ShtDynamic))
        {
            var strtab = sections[s.Link];
            for (long off = s.Offset; off + 16 <= s.Offset + s.Size; off += 16)
            {
                long tag = (long)U64((int)off);
                if (tag == 0) break;
                if (tag == DtNeeded) neededLibs.Add(Str(strtab, (uint)U64((int)off + 8)));
                else if (tag == DtSoname) SoName = Str(strtab, (uint)U64((int)off + 8));
            }
        }
        NeededLibraries = neededLibs;
    }

    /// <summary>Reads and parses <paramref name="path"/>; <see cref="InvalidDataException"/> naming it when it is not
    /// a 64-bit little-endian ELF file with section headers.</summary>
    public static ElfImage Read(string path) => new(File.ReadAllBytes(path), path);

    /// <summary>Parses an image already in memory; <paramref name="source"/> names it in error messages.</summary>
    public static ElfImage Parse(byte[] bytes, string source) => new(bytes, source);

    /// <summary>The file's bytes (not a copy: do not modify).</summary>
    public ReadOnlySpan<byte> Bytes => bytes;

    sealed record Section(uint Type, long Offset, long Size, uint Link, uint Info);

    ushort U16(int at) => BinaryPrimitives.ReadUInt16LittleEndian(Slice(at, 2));
    uint U32(int at) => BinaryPrimitives.ReadUInt32LittleEndian(Slice(at, 4));
    ulong U64(int at) => BinaryPrimitives.ReadUInt64LittleEndian(Slice(at, 8));

    ReadOnlySpan<byte> Slice(int at, int length)
    {
        if (at < 0 || at + length > bytes.Length) throw Bad($"read of {length} bytes at offset {at} lies outside the file");
        return bytes.AsSpan(at, length);
    }

    string Str(Section strtab, uint offset)
    {
        if (offset >= strtab.Size) throw Bad($"string offset {offset} lies outside its string table");
        var start = (int)(strtab.Offset + offset);
        int end = Array.IndexOf(bytes, (byte)0, start, (int)(strtab.Size - offset));
        if (end < 0) throw Bad("unterminated string");
        return Encoding.UTF8.GetString(bytes, start, end - start);
    }

    InvalidDataException Bad(string why) => new($"{source}: {why}.");
}
