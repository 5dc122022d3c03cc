namespace CanKit.Engine;

/// <summary>
/// What /proc/cpuinfo says about this CPU: its model and the instruction-set flags that decide whether bf16
/// arithmetic is native (and so whether <see cref="Vision.Precision.BFloat16"/> can be faster than float32).
/// </summary>
public static class CpuFeatures
{
    /// <summary>The flags that give native bf16 products on x86: AVX-512 BF16 (Cooper Lake, Zen 4 and later) or AMX-BF16 (Sapphire Rapids and later).</summary>
    public static readonly IReadOnlyList<string> NativeBf16Flags = ["avx512_bf16", "amx_bf16"];

    private static readonly Lazy<(string Model, HashSet<string> Flags)> Info = new(Read);

    /// <summary>The CPU model ("model name"), or "unknown" where /proc/cpuinfo cannot be read.</summary>
    public static string Model => Info.Value.Model;

    /// <summary>The CPU's flags (first processor), empty where /proc/cpuinfo cannot be read (not Linux).</summary>
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
        return (model, flags);
    }
}
