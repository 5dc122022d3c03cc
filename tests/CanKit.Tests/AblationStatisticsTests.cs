using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Evaluation;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The ablation tables' statistics against closed forms. Student's t has closed-form quantiles for 1, 2 and 4 degrees
/// of freedom (p = 0.975 throughout, the upper end of a two-sided 95 % interval):
///   df = 1 (Cauchy):   t = tan(π(p − ½)) = tan(0.475π) = 12.706204736…
///   df = 2:            t = (2p − 1) / √(2p(1 − p)) = 0.95 / √0.04875 = 4.302652729…
///   df = 4:            with a = 4p(1 − p) = 0.0975, q = cos(⅓·arccos √a) / √a = 2.927143…, t = 2√(q − 1) = 2.776445105…
/// and CDFs: df = 1: ½ + arctan(t)/π; df = 2: ½ + t / (2√(2 + t²)). The quantile is bisected to 1e-12 on a CDF whose
/// continued fraction and log-gamma are good to ~1e-14, so 1e-9 leaves three orders of margin.
/// </summary>
public sealed class AblationStatisticsTests
{
    private const double Tol = 1e-9;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void TQuantileMatchesItsClosedForm(int df)
    {
        const double p = 0.975;
        double expected = df switch
        {
            1 => Math.Tan(Math.PI * (p - 0.5)),
            2 => (2 * p - 1) / Math.Sqrt(2 * p * (1 - p)),
            _ => 2 * Math.Sqrt(Math.Cos(Math.Acos(Math.Sqrt(4 * p * (1 - p))) / 3) / Math.Sqrt(4 * p * (1 - p)) - 1),
        };
        Assert.Equal(expected, StudentT.Quantile(p, df), Tol);
        Assert.Equal(-expected, StudentT.Quantile(1 - p, df), Tol);
        // The hand-computed digits in the summary above, to the digits written there.
        Assert.Equal(df switch { 1 => 12.706204736, 2 => 4.302652729, _ => 2.776445105 }, StudentT.Quantile(p, df), 1e-8);
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(1.7)]
    [InlineData(-2.5)]
    [InlineData(40.0)]
    public void TCdfMatchesItsClosedForms(double t)
    {
        Assert.Equal(0.5 + Math.Atan(t) / Math.PI, StudentT.Cdf(t, 1), Tol);
        Assert.Equal(0.5 + t / (2 * Math.Sqrt(2 + t * t)), StudentT.Cdf(t, 2), Tol);
    }

    [Fact]
    public void ManyDegreesOfFreedomApproachTheNormalQuantile()
    {
        // Φ⁻¹(0.975) = 1.959963985; t(10⁶) exceeds it by ≈ (z³ + z)/(4·df) = 2.4e-6 (Cornish–Fisher's first term).
        double z = 1.959963985, df = 1e6;
        Assert.Equal(z + (z * z * z + z) / (4 * df), StudentT.Quantile(0.975, df), 1e-8);
    }

    [Fact]
    public void ThreeSeedsGiveTheTextbookInterval()
    {
        // {1, 2, 3}: mean 2, s = √(((−1)² + 0 + 1²)/2) = 1, half-width t(0.975, 2)·1/√3 = 4.302652729/1.732050808 = 2.484138.
        var s = SeedSummary.Of([1.0, 2.0, 3.0]);
        Assert.Equal(2, s.Mean, Tol);
        Assert.Equal(1, s.StdDev, Tol);
        Assert.Equal(2 - 2.484138, s.Low, 1e-6);
        Assert.Equal(2 + 2.484138, s.High, 1e-6);
        var one = SeedSummary.Of([0.5]);
        Assert.True(double.IsNaN(one.Low) && double.IsNaN(one.StdDev));
        Assert.Throws<ArgumentException>(() => SeedSummary.Of([1.0, double.NaN]));
    }

    private static AblationRow Row(string name, double lo, double hi, double gflop = 1) =>
        new("t", name, 10, new SeedSummary(3, (lo + hi) / 2, 0.01, lo, hi), new SeedSummary(3, (lo + hi) / 2, 0.01, lo, hi), gflop, 1);

    [Fact]
    public void VerdictsFollowTheIntervals()
    {
        var claim = new AblationClaim("x", "a beats b", "test", "a", "b");
        Verdict Judge(params AblationRow[] rows) => AblationReport.Judge(claim, rows, r => r.Probe).Verdict;
        Assert.Equal(Verdict.Holds, Judge(Row("a", 0.70, 0.72), Row("b", 0.60, 0.69)));
        Assert.Equal(Verdict.DoesNotHold, Judge(Row("a", 0.60, 0.69), Row("b", 0.70, 0.72)));
        Assert.Equal(Verdict.CannotTell, Judge(Row("a", 0.65, 0.72), Row("b", 0.60, 0.66)));
        var flops = new AblationClaim("f", "a costs 1.7× b", "test", "a", "b", FlopsRatio: 1.7);
        // Within 25 % of the paper's ratio holds: 2.0/1.7 = 1.18; 2.2/1.7 = 1.29 does not.
        Assert.Equal(Verdict.Holds, AblationReport.Judge(flops, [Row("a", 0, 1, 2.0), Row("b", 0, 1, 1.0)], r => r.Probe).Verdict);
        Assert.Equal(Verdict.DoesNotHold, AblationReport.Judge(flops, [Row("a", 0, 1, 2.2), Row("b", 0, 1, 1.0)], r => r.Probe).Verdict);
        Assert.Throws<ArgumentException>(() => AblationReport.Judge(claim, [Row("a", 0, 1)], r => r.Probe));
    }

    [Theory]
    [InlineData(0.0131, "+1.3")]
    [InlineData(-0.0049, "-0.5")]
    [InlineData(-0.0004, "+0.0")]
    public void DifferencesShowInSignedPoints(double difference, string text) => Assert.Equal(text, AblationReport.SignedPoints(difference));

    [Fact]
    public void KendallTauCountsConcordantPairs()
    {
        Assert.Equal(1, AblationReport.KendallTau([1, 2, 3], [10, 20, 30]), Tol);
        Assert.Equal(-1, AblationReport.KendallTau([1, 2, 3], [3, 2, 1]), Tol);
        // (1,2) and (1,3) concordant, (2,3) discordant: (2 − 1)/3.
        Assert.Equal(1.0 / 3, AblationReport.KendallTau([1, 2, 3], [1, 3, 2]), Tol);
    }

    [Fact]
    public void SettledPairsAreThoseWithIntervalsApartAndKeptIsTheirLaterOrder()
    {
        // At the first budget a [0.70, 0.72] is apart from b [0.60, 0.62] and from c [0.50, 0.69] (0.70 > 0.69);
        // b and c overlap, so two pairs are settled.
        var at = new[] { Row("a", 0.70, 0.72), Row("b", 0.60, 0.62), Row("c", 0.50, 0.69) };
        // Later a still leads b by mean (0.80 > 0.75) but c has overtaken a (0.82 > 0.80): one of the two is kept.
        var later = new[] { Row("a", 0.79, 0.81), Row("b", 0.74, 0.76), Row("c", 0.81, 0.83) };
        Assert.Equal((2, 1), AblationReport.SettledPairs(at, later, r => r.Probe));
        // Against itself every settled pair keeps its order: a over b and c over b (c's 0.81 is not above a's 0.81).
        Assert.Equal((2, 2), AblationReport.SettledPairs(later, later, r => r.Probe));
        // Overlapping intervals settle nothing.
        Assert.Equal((0, 0), AblationReport.SettledPairs([Row("a", 0.5, 0.7), Row("b", 0.6, 0.8)], later, r => r.Probe));
        var e = Assert.Throws<ArgumentException>(() => AblationReport.SettledPairs(at, later.Take(2).ToList(), r => r.Probe));
        Assert.Contains("row c is missing", e.Message);
    }

    [Fact]
    public void TheCsvReadsBackWhatWasWritten()
    {
        var rows = new[] { Row("a", 0.70, 0.72, 0.123456789), Row("b", 0.6, 0.69) };
        string path = Path.Combine(Path.GetTempPath(), $"cankit-ablation-{Guid.NewGuid():N}.csv");
        try
        {
            File.WriteAllText(path, AblationReport.ToCsv(rows));
            Assert.Equal(rows, AblationReport.ReadCsv(path));
            File.AppendAllText(path, "t,c,10,3,oops,0,0,0,0,0,0,0,0,0\n");
            var e = Assert.Throws<InvalidDataException>(() => AblationReport.ReadCsv(path));
            Assert.Contains($"{path}: line 4", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
