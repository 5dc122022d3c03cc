namespace CanKit.Evaluation;

/// <summary>
/// The paired per-seed difference of two rows' scores (row A − row B at each seed, where a seed fixes the initialisation,
/// the batch order and the probe's seed, so the two runs of a seed are correlated): the mean difference, its sample
/// standard deviation, the two-sided Student-t interval, the t statistic and the two-sided p-value of "no difference",
/// and the one-sided p-value of "A is worse than B by the margin or more" for non-inferiority.
/// </summary>
public sealed record PairedDifference(int Seeds, double Mean, double StdDev, double Low, double High, double T, double P)
{
    /// <summary>A standard deviation of the differences at or below this is rounding: the differences are equal.</summary>
    public const double TieTolerance = 1e-9;

    /// <summary>The differences of <paramref name="a"/> and <paramref name="b"/>, paired by index (seed).</summary>
    public static PairedDifference Of(IReadOnlyList<double> a, IReadOnlyList<double> b, double confidence = 0.95)
    {
        if (a.Count != b.Count) throw new ArgumentException($"{a.Count} scores against {b.Count}: the rows must have the same seeds", nameof(b));
        if (a.Count < 2) throw new ArgumentException("a paired test needs at least two seeds", nameof(a));
        var d = a.Zip(b, (x, y) => x - y).ToList();
        var s = SeedSummary.Of(d, confidence);
        // Differences equal at every seed leave the spread unestimated (with scores on a few hundred images they are
        // multiples of 1/N, so two seeds tie by chance): no t, and no evidence (p = 1), not certainty. "Equal" is up to
        // the rounding of the subtraction (1e-9, far below 1/N).
        double se = s.StdDev / Math.Sqrt(d.Count);
        if (!(s.StdDev > TieTolerance)) return new PairedDifference(d.Count, s.Mean, s.StdDev, s.Low, s.High, double.NaN, 1);
        double t = s.Mean / se;
        return new PairedDifference(d.Count, s.Mean, s.StdDev, s.Low, s.High, t, 2 * (1 - StudentT.Cdf(Math.Abs(t), d.Count - 1)));
    }

    /// <summary>
    /// One-sided p-value of the null "the mean difference is −<paramref name="margin"/> or lower" (A worse than B by the
    /// margin): small when A is at least as good as B up to the margin.
    /// </summary>
    public double NonInferiorityP(double margin)
    {
        if (!(margin >= 0)) throw new ArgumentOutOfRangeException(nameof(margin), margin, "must be ≥ 0");
        double se = StdDev / Math.Sqrt(Seeds);
        if (!(StdDev > TieTolerance)) return 1;   // no spread estimated: no evidence (see Of)
        return 1 - StudentT.Cdf((Mean + margin) / se, Seeds - 1);
    }

    /// <summary>
    /// Holm's step-down adjustment of <paramref name="p"/> (a family of tests, e.g. one table's claims): sorted ascending,
    /// the i-th (from 0) is multiplied by m − i, the running maximum is kept and 1 caps it; returned in the input's order.
    /// Rejecting where the adjusted p is below α keeps the chance of any false rejection in the family at most α.
    /// </summary>
    public static double[] Holm(IReadOnlyList<double> p)
    {
        int m = p.Count;
        var order = Enumerable.Range(0, m).OrderBy(i => p[i]).ToArray();
        var adjusted = new double[m];
        double running = 0;
        for (int rank = 0; rank < m; rank++)
        {
            running = Math.Max(running, Math.Min(1, (m - rank) * p[order[rank]]));
            adjusted[order[rank]] = running;
        }
        return adjusted;
    }
}
