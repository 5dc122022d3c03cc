namespace CanKit.Vision;

/// <summary>
/// The checks the model's and the methods' configurations share: each returns the value when it is allowed and otherwise
/// throws an <see cref="ArgumentOutOfRangeException"/> naming the field (so a flag or a run.json field can be named).
/// </summary>
internal static class ConfigRules
{
    public static int Positive(int v, string field) => v > 0 ? v : throw new ArgumentOutOfRangeException(field, v, "must be > 0");

    public static double Positive(double v, string field) => v > 0 ? v : throw new ArgumentOutOfRangeException(field, v, "must be > 0");

    public static int NonNegative(int v, string field) => v >= 0 ? v : throw new ArgumentOutOfRangeException(field, v, "must be ≥ 0");

    public static double NonNegative(double v, string field) =>
        v >= 0 && double.IsFinite(v) ? v : throw new ArgumentOutOfRangeException(field, v, "must be finite and ≥ 0");

    /// <summary>A share of patches to mask: in [0, 1) (at least one patch stays visible).</summary>
    public static double MaskRatio(double v, string field) =>
        v is >= 0 and < 1 ? v : throw new ArgumentOutOfRangeException(field, v, "must be in [0, 1)");
}
