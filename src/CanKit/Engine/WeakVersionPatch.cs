namespace CanKit.Engine;

/// <summary>
/// Decides whether a native library's symbol-version needs are met by the libraries the system provides and, when
/// the only unmet need is one that no code depends on, describes the one-flag change that lets the dynamic loader
/// accept it: <c>VER_FLG_WEAK</c> on that <c>Vernaux</c> entry of <c>.gnu.version_r</c>, which makes a missing
/// version a warning instead of a load failure.
/// </summary>
/// <remarks>
/// GCC 13's <c>&lt;iostream&gt;</c> makes every translation unit that includes it reference
/// <c>std::ios_base_library_init()</c> (versioned <c>GLIBCXX_3.4.32</c>) only so that the iostream objects are
/// initialised; nothing calls it and no relocation uses it. An older libstdc++ initialises its streams itself, so
/// a library whose only <c>GLIBCXX_3.4.32</c> symbol is that one runs correctly against it once the need is weak.
/// Any other missing version is a real dependency and is reported, never weakened.
/// </remarks>
public static class WeakVersionPatch
{
    /// <summary><c>VER_FLG_WEAK</c> in <c>vna_flags</c>.</summary>
    public const ushort VerFlgWeak = 0x2;

    /// <summary>Symbols that are referenced only to force an initialisation the older library does on its own.</summary>
    public static readonly IReadOnlySet<string> InitOnlySymbols = new HashSet<string>(StringComparer.Ordinal)
    {
        "_ZSt21ios_base_library_initv", // std::ios_base_library_init(), GCC 13, GLIBCXX_3.4.32
    };

    /// <summary>What a library needs that the system lacks, and which of those needs the patch weakens.</summary>
    /// <param name="Missing">needed, non-weak versions that the providing library does not define</param>
    /// <param name="Unknown">needed libraries that could not be found, so nothing is known about them</param>
    public sealed record Plan(IReadOnlyList<ElfImage.VersionNeed> Missing, IReadOnlyList<string> Unknown)
    {
        /// <summary>True when nothing is missing: the library loads as it is.</summary>
        public bool NothingToDo => Missing.Count == 0;

        /// <summary>The file offsets of the <c>vna_flags</c> fields the patch changes.</summary>
        public IEnumerable<long> FlagOffsets => Missing.Select(m => m.FlagsOffset);
    }

    /// <summary>
    /// Compares what <paramref name="library"/> needs with what <paramref name="providedVersions"/> says each needed
    /// library defines (null: that library was not found). Throws <see cref="NotSupportedException"/> naming
    /// <paramref name="libraryPath"/> and the versions when a missing version has symbols other than
    /// <see cref="InitOnlySymbols"/> bound to it, or when a relocation uses one of its symbols.
    /// </summary>
    public static Plan Decide(ElfImage library, string libraryPath, Func<string, IReadOnlySet<string>?> providedVersions)
    {
        var missing = new List<ElfImage.VersionNeed>();
        var unknown = new List<string>();
        var refused = new List<string>();
        foreach (var group in library.Needs.GroupBy(n => n.File))
        {
            var provided = providedVersions(group.Key);
            if (provided is null) { unknown.Add(group.Key); continue; }
            foreach (var need in group)
            {
                if (provided.Contains(need.Version) || (need.Flags & VerFlgWeak) != 0) continue;
                // Bit 15 of a .gnu.version entry marks a hidden symbol; the low 15 bits are the version index.
                var bound = library.Symbols.Where(s => (s.VersionIndex & 0x7fff) == need.Index).ToList();
                var blockers = bound.Where(s => !s.Undefined || !InitOnlySymbols.Contains(s.Name)
                                                || library.RelocatedSymbols.Contains(s.Index))
                                    .Select(s => s.Name).ToList();
                if (blockers.Count > 0)
                    refused.Add($"{need.Version} from {need.File} (used by {string.Join(", ", blockers.Take(5))}{(blockers.Count > 5 ? ", …" : "")})");
                else
                    missing.Add(need);
            }
        }
        if (refused.Count > 0)
            throw new NotSupportedException(
                $"{libraryPath} needs symbol versions this system does not provide: {string.Join("; ", refused)}. " +
                "These are real dependencies; install a newer system library (or a distribution that has it) " +
                "or use a TorchSharp build made for this system.");
        return new Plan(missing, unknown);
    }

    /// <summary>A copy of <paramref name="original"/> with <c>VER_FLG_WEAK</c> set on each entry of <paramref name="plan"/>.</summary>
    public static byte[] Apply(ReadOnlySpan<byte> original, Plan plan)
    {
        var copy = original.ToArray();
        foreach (var offset in plan.FlagOffsets)
        {
            var flags = (ushort)(copy[offset] | copy[offset + 1] << 8);
            flags |= VerFlgWeak;
            copy[offset] = (byte)flags;
            copy[offset + 1] = (byte)(flags >> 8);
        }
        return copy;
    }

    /// <summary>True when <paramref name="candidate"/> is exactly <paramref name="original"/> with the plan applied:
    /// same length, and every byte equal except the flag fields, which carry the weak bit.</summary>
    public static bool IsPatchOf(ReadOnlySpan<byte> original, ReadOnlySpan<byte> candidate, Plan plan) =>
        candidate.SequenceEqual(Apply(original, plan));
}
