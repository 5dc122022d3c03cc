using CanKit.Methods;

namespace CanKit.Catalog;

/// <summary>
/// Every method a run can name, name → <see cref="MethodSpec"/>: the four methods at their presets and each row of the
/// ablation tables (<see cref="AblationTables"/>). It sits above Methods (which define what a spec builds) and below
/// Training and Ablation (which look methods up by the name a run.json stores).
/// </summary>
public static class MethodCatalog
{
    /// <summary>The four methods, each at its preset.</summary>
    public static IReadOnlyList<string> Methods { get; } = ["can", "cmae", "mae", "simclr"];

    /// <summary>The method a run names: can, cmae, mae, simclr, or a row of an ablation table (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No method or row has that name; the message lists them.</exception>
    public static MethodSpec Parse(string name) => name.ToLowerInvariant() switch
    {
        "can" => new("can", MethodKind.Can),
        "cmae" => new("cmae", MethodKind.Cmae),
        "mae" => new("mae", MethodKind.Mae),
        "simclr" => new("simclr", MethodKind.SimClr),
        _ => AblationTables.Rows.FirstOrDefault(s => s.Name == name.ToLowerInvariant())
             ?? throw new ArgumentException($"unknown method '{name}' (expected can, cmae, mae, simclr or a row of an ablation table: " +
                                            $"{string.Join(", ", AblationTables.Rows.Select(s => s.Name))})", nameof(name)),
    };
}
