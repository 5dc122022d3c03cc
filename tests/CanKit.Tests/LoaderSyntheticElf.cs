using System.Buffers.Binary;
using System.Text;

namespace CanKit.Tests;

/// <summary>
/// Builds a minimal 64-bit little-endian ELF shared object with just the tables the loader reads: <c>.dynstr</c>,
/// <c>.dynsym</c>, <c>.gnu.version</c>, <c>.gnu.version_r</c> (one <c>Verneed</c> for libstdc++.so.6 with one
/// <c>Vernaux</c> per version) and optionally <c>.rela.dyn</c>. Written by hand from the ELF and LSB
/// symbol-versioning specifications, so the parser is checked against an independent encoder.
/// </summary>
internal static class LoaderSyntheticElf
{
    public const int VernauxSize = 16, VerneedSize = 16;

    /// <param name="Name">symbol name</param>
    /// <param name="Version">the version it is bound to (one of the versions passed to <see cref="Build"/>)</param>
    /// <param name="Relocated">whether a relocation refers to it</param>
    public sealed record Symbol(string Name, string Version, bool Relocated = false);

    /// <summary>The image and where each version's <c>vna_flags</c> field lies.</summary>
    public sealed record Image(byte[] Bytes, IReadOnlyDictionary<string, long> FlagOffsets);

    public static Image Build(IReadOnlyList<string> versions, IReadOnlyList<Symbol> symbols, string needed = "libstdc++.so.6")
    {
        // .dynstr
        var dynstr = new MemoryStream();
        dynstr.WriteByte(0);
        var strOff = new Dictionary<string, int>();
        int Add(string s)
        {
            if (strOff.TryGetValue(s, out var o)) return o;
            o = (int)dynstr.Length;
            var b = Encoding.UTF8.GetBytes(s);
            dynstr.Write(b);
            dynstr.WriteByte(0);
            strOff[s] = o;
            return o;
        }
        Add(needed);
        foreach (var v in versions) Add(v);
        foreach (var s in symbols) Add(s.Name);

        // Version indices 0 and 1 are reserved (local, global); needs start at 2.
        var index = versions.Select((v, i) => (v, i)).ToDictionary(p => p.v, p => (ushort)(p.i + 2));

        var dynsym = new byte[24 * (symbols.Count + 1)];
        var versym = new byte[2 * (symbols.Count + 1)];
        for (int i = 0; i < symbols.Count; i++)
        {
            var e = 24 * (i + 1);
            BinaryPrimitives.WriteUInt32LittleEndian(dynsym.AsSpan(e), (uint)strOff[symbols[i].Name]);
            dynsym[e + 4] = 0x12; // STB_GLOBAL, STT_FUNC; st_shndx = 0: undefined
            BinaryPrimitives.WriteUInt16LittleEndian(versym.AsSpan(2 * (i + 1)), index[symbols[i].Version]);
        }

        var verneed = new byte[VerneedSize + VernauxSize * versions.Count];
        BinaryPrimitives.WriteUInt16LittleEndian(verneed.AsSpan(0), 1);                       // vn_version
        BinaryPrimitives.WriteUInt16LittleEndian(verneed.AsSpan(2), (ushort)versions.Count);  // vn_cnt
        BinaryPrimitives.WriteUInt32LittleEndian(verneed.AsSpan(4), (uint)strOff[needed]);    // vn_file
        BinaryPrimitives.WriteUInt32LittleEndian(verneed.AsSpan(8), VerneedSize);             // vn_aux
        for (int i = 0; i < versions.Count; i++)
        {
            var a = VerneedSize + VernauxSize * i;
            BinaryPrimitives.WriteUInt32LittleEndian(verneed.AsSpan(a), ElfHash(versions[i]));     // vna_hash
            BinaryPrimitives.WriteUInt16LittleEndian(verneed.AsSpan(a + 6), index[versions[i]]);   // vna_other
            BinaryPrimitives.WriteUInt32LittleEndian(verneed.AsSpan(a + 8), (uint)strOff[versions[i]]);
            BinaryPrimitives.WriteUInt32LittleEndian(verneed.AsSpan(a + 12), i + 1 < versions.Count ? (uint)VernauxSize : 0);
        }

        var relocated = symbols.Select((s, i) => (s, i)).Where(p => p.s.Relocated).ToList();
        var rela = new byte[24 * relocated.Count];
        for (int r = 0; r < relocated.Count; r++)
            BinaryPrimitives.WriteUInt64LittleEndian(rela.AsSpan(24 * r + 8), ((ulong)(relocated[r].i + 1) << 32) | 7); // R_X86_64_JUMP_SLOT

        var shstr = new MemoryStream();
        shstr.WriteByte(0);
        int Name(string s) { var o = (int)shstr.Length; shstr.Write(Encoding.ASCII.GetBytes(s)); shstr.WriteByte(0); return o; }
        // (name, type, data, link, info, entsize)
        var sections = new List<(int name, uint type, byte[] data, uint link, uint info, ulong entsize)>
        {
            (0, 0, Array.Empty<byte>(), 0, 0, 0),
            (Name(".dynstr"), 3, dynstr.ToArray(), 0, 0, 0),
            (Name(".dynsym"), 11, dynsym, 1, 1, 24),
            (Name(".gnu.version"), 0x6fffffff, versym, 2, 0, 2),
            (Name(".gnu.version_r"), 0x6ffffffe, verneed, 1, 1, 0),
            (Name(".rela.dyn"), 4, rela, 2, 0, 24),
        };
        sections.Add((Name(".shstrtab"), 3, Array.Empty<byte>(), 0, 0, 0));
        sections[^1] = (sections[^1].name, 3, shstr.ToArray(), 0, 0, 0);

        var file = new MemoryStream();
        file.Write(new byte[64]);
        var offsets = new List<long>();
        foreach (var s in sections)
        {
            while (file.Length % 8 != 0) file.WriteByte(0);
            offsets.Add(s.data.Length == 0 ? 0 : file.Length);
            file.Write(s.data);
        }
        while (file.Length % 8 != 0) file.WriteByte(0);
        long shoff = file.Length;
        for (int i = 0; i < sections.Count; i++)
        {
            var h = new byte[64];
            var s = sections[i];
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0), (uint)s.name);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), s.type);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), (ulong)offsets[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(32), (ulong)s.data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(40), s.link);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(44), s.info);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(56), s.entsize);
            file.Write(h);
        }
        var bytes = file.ToArray();
        bytes[0] = 0x7f; bytes[1] = (byte)'E'; bytes[2] = (byte)'L'; bytes[3] = (byte)'F';
        bytes[4] = 2; bytes[5] = 1; bytes[6] = 1;                                      // ELFCLASS64, LSB, EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(16), 3);                 // ET_DYN
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(18), 62);                // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(20), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0x28), (ulong)shoff);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x34), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x3A), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x3C), (ushort)sections.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x3E), (ushort)(sections.Count - 1));

        long verneedOffset = offsets[4];
        var flagOffsets = versions.Select((v, i) => (v, off: verneedOffset + VerneedSize + VernauxSize * i + 4))
                                  .ToDictionary(p => p.v, p => p.off);
        return new Image(bytes, flagOffsets);
    }

    /// <summary>The SysV ELF hash that vna_hash carries.</summary>
    static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (var c in Encoding.ASCII.GetBytes(name))
        {
            h = (h << 4) + c;
            uint g = h & 0xf0000000;
            if (g != 0) h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }
}
