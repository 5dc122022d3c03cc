using CanKit.Augment;

namespace CanKit.Methods;

/// <summary>
/// Changes to a CAN preset that a run asks for by flag (<c>--mask-ratio</c>, <c>--sigma-max</c>, <c>--weights</c>,
/// <c>--temperature</c>, <c>--crop-min</c>, <c>--blur</c>, <c>--jitter</c>): null keeps the preset's value. Stored in run.json, so
/// evaluation and resuming rebuild the same model; <see cref="Apply"/> goes through <see cref="CanConfig"/>'s own checks.
/// </summary>
public sealed record CanOverrides(double? MaskRatio = null, double? SigmaMax = null, double? ContrastiveWeight = null,
                                  double? ReconstructionWeight = null, double? DenoiseWeight = null, double? Temperature = null,
                                  double? CropMin = null, double? BlurP = null, double? JitterP = null)
{
    /// <summary><paramref name="c"/> with every value this record sets; an out-of-range value throws, naming the field.</summary>
    public CanConfig Apply(CanConfig c)
    {
        var views = c.Views;
        if (CropMin is { } lo)
            views = views with { Scale = lo is > 0 and <= 1 ? (lo, 1.0) : throw new ArgumentOutOfRangeException(nameof(CropMin), lo, "must be in (0, 1]") };
        if (BlurP is { } b) views = views with { BlurP = Probability(b, nameof(BlurP)) };
        if (JitterP is { } j) views = views with { JitterP = Probability(j, nameof(JitterP)) };
        return c with
        {
            MaskRatio = MaskRatio ?? c.MaskRatio, SigmaMax = SigmaMax ?? c.SigmaMax, Temperature = Temperature ?? c.Temperature,
            ContrastiveWeight = ContrastiveWeight ?? c.ContrastiveWeight, ReconstructionWeight = ReconstructionWeight ?? c.ReconstructionWeight,
            DenoiseWeight = DenoiseWeight ?? c.DenoiseWeight, Views = views,
        };
    }

    private static double Probability(double p, string field) =>
        p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(field, p, "must be a probability in [0, 1]");
}
