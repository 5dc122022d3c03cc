using System.Runtime.Intrinsics.X86;

namespace CanKit.Engine;

/// <summary>
/// What /proc/cpuinfo says about this CPU: its model and the instruction-set flags that decide whether bf16
/// arithmetic is native (and so whether <see cref="Vision.Precision.BFloat16"/> can be faster than float32). Where
/// /proc/cpuinfo cannot be read (Windows, macOS) an x86 CPU is asked directly through CPUID (<see cref="FromCpuid"/>);
/// elsewhere the flags are empty and bf16 is not taken to be native.
/// </summary>
public static class CpuFeatures
{
    /// <summary>The flags that give native bf16 products on x86: AVX-512 BF16 (Cooper Lake, Zen 4 and later) or AMX-BF16 (Sapphire Rapids and later).</summary>
    public static readonly IReadOnlyList<string> NativeBf16Flags = ["avx512_bf16", "amx_bf16"];

    private static readonly Lazy<(string Model, HashSet<string> Flags)> Info = new(Read);

    /// <summary>The CPU model ("model name", else CPUID's brand string), or "unknown".</summary>
    public static string Model => Info.Value.Model;

    /// <summary>The CPU's flags (first processor) from /proc/cpuinfo; where it cannot be read, the bf16 flags CPUID reports.</summary>
    public static IReadOnlySet<string> Flags => Info.Value.Flags;

    /// <summary>Which of <see cref="NativeBf16Flags"/> this CPU has.</summary>
    public static IReadOnlyList<string> Bf16Flags => NativeBf16Flags.Where(Flags.Contains).ToArray();

    /// <summary>Whether this CPU computes bf16 products natively.</summary>
    public static bool HasNativeBf16 => NativeBf16(Flags);

    /// <summary>Whether a CPU with <paramref name="flags"/> computes bf16 products natively.</summary>
    public static bool NativeBf16(IEnumerable<string> flags) => flags.Any(NativeBf16Flags.Contains);

    private static (string, HashSet<string>) Read()
    {
        string model = "unknown";
        var flags = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                string value = line.Contains(':') ? line[(line.IndexOf(':') + 1)..].Trim() : "";
                if (model == "unknown" && line.StartsWith("model name", StringComparison.Ordinal)) model = value;
                else if (flags.Count == 0 && line.StartsWith("flags", StringComparison.Ordinal))
                    flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (flags.Count == 0 && FromCpuid() is { } cpuid) return (model == "unknown" ? cpuid.Model : model, cpuid.Flags);
        return (model, flags);
    }

    /// <summary>
    /// The brand string and the native-bf16 flags of an x86 CPU, asked through CPUID (null on other CPUs): avx512_bf16
    /// is leaf 7 sub-leaf 1, EAX bit 5, counted only where the runtime can use AVX-512 at all (the OS saves its state);
    /// amx_bf16 is leaf 7 sub-leaf 0, EDX bit 22. The names are Linux's, so both sources read alike.
    /// </summary>
    public static (string Model, HashSet<string> Flags)? FromCpuid()
    {
        if (!X86Base.IsSupported) return null;
        var flags = new HashSet<string>(StringComparer.Ordinal);
        int maxLeaf = X86Base.CpuId(0, 0).Eax;
        if (maxLeaf >= 7)
        {
            if ((X86Base.CpuId(7, 0).Edx & (1 << 22)) != 0) flags.Add("amx_bf16");
            if (Avx512F.IsSupported && X86Base.CpuId(7, 0).Eax >= 1 && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0) flags.Add("avx512_bf16");
        }
        var brand = new System.Text.StringBuilder();
        if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax >= 0x80000004)
            for (int leaf = 0; leaf < 3; leaf++)
            {
                var (a, b, c, d) = X86Base.CpuId(unchecked((int)0x80000002) + leaf, 0);
                foreach (int r in new[] { a, b, c, d }) brand.Append(System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(r)));
            }
        string model = brand.ToString().TrimEnd('\0').Trim();
        return (model.Length > 0 ? model : "unknown", flags);
    }
}
