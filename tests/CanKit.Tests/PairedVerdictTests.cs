using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Evaluation;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The paired per-seed test against closed forms. With two degrees of freedom Student's CDF is ½ + t / (2√(2 + t²)), so
/// for the differences 1, 2, 3 (mean 2, sd 1, se 1/√3, t = 2√3 = 3.4641…): the two-sided p is 1 − t/√(2 + t²) =
/// 1 − 2√3/√14 = 0.074180…, the 95 % interval 2 ± 4.302652729/√3, and with a margin of 1 the non-inferiority t is 3√3
/// and its one-sided p ½ − 3√3/(2√29) = 0.017549…; Holm's adjustment by hand; and verdicts from runs written out here.
/// </summary>
public sealed class PairedVerdictTests
{
    [Fact]
    public void ThePairedDifferenceMatchesItsClosedForm()
    {
        var d = PairedDifference.Of([4.0, 6, 8], [3.0, 4, 5]);
        Assert.Equal((3, 2.0, 1.0), (d.Seeds, d.Mean, d.StdDev));
        Assert.Equal(2 * Math.Sqrt(3), d.T, 1e-12);
        Assert.Equal(1 - 2 * Math.Sqrt(3) / Math.Sqrt(14), d.P, 1e-9);
        Assert.Equal(0.074180, d.P, 1e-6);
        Assert.Equal(2 - 4.302652729 / Math.Sqrt(3), d.Low, 1e-8);
        Assert.Equal(2 + 4.302652729 / Math.Sqrt(3), d.High, 1e-8);
        Assert.Equal(0.5 - 3 * Math.Sqrt(3) / (2 * Math.Sqrt(29)), d.NonInferiorityP(1), 1e-9);
        // No spread: a difference equal at every seed (two seeds on 500 test images tie by chance) estimates no spread,
        // so it is no evidence either way, like no difference at all.
        var tied = PairedDifference.Of([2.0, 3], [1.0, 2]);
        Assert.Equal((double.NaN, 1.0, 1.0), (tied.T, tied.P, tied.NonInferiorityP(0.5)));
        Assert.Equal(1.0, PairedDifference.Of([1.0, 2], [1.0, 2]).P);
        // Two scores on 500 images, each 2 points apart: 0.436 − 0.416 and 0.45 − 0.43 differ in the last bits only.
        Assert.Equal(1.0, PairedDifference.Of([0.416, 0.43], [0.436, 0.45]).P);
        Assert.Throws<ArgumentException>(() => PairedDifference.Of([1.0, 2], [1.0]));
    }

    [Fact]
    public void HolmAdjustsInTheInputsOrder()
    {
        // Sorted: 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 → running maximum 0.06.
        Assert.Equal([0.03, 0.06, 0.06], PairedDifference.Holm([0.01, 0.04, 0.03]).Select(p => Math.Round(p, 12)));
        Assert.Equal([1.0, 1.0], PairedDifference.Holm([0.6, 0.9]));
    }

    [Fact]
    public void ClaimsAreJudgedByThePairedTestWithHolmAndMargins()
    {
        var table = new AblationTable("t", "three claims", [], [
            new AblationClaim("up", "a beats b", "test", "a", "b"),
            new AblationClaim("down", "b beats a", "test", "b", "a"),
            new AblationClaim("ni", "c at least as accurate as a", "test", "c", "a", NonInferiorityMargin: 0.01),
        ], "");
        // a − b at seeds 0..3: +0.02, +0.03, +0.02, +0.03 (every seed positive); c − a: −0.002, +0.001, −0.001, 0.
        double[] a = [0.60, 0.61, 0.62, 0.63], b = [0.58, 0.58, 0.60, 0.60], c = [0.598, 0.611, 0.619, 0.63];
        var results = Enumerable.Range(0, 4).SelectMany(s => new[]
        {
            new AblationRunResult("a", s, 100, a[s], a[s], 1), new AblationRunResult("b", s, 100, b[s], b[s], 1),
            new AblationRunResult("c", s, 100, c[s], c[s], 1),
        }).ToList();
        var v = PairedVerdicts.Judge(table, results, 100, r => r.Probe);
        Assert.Equal([Verdict.Holds, Verdict.DoesNotHold, Verdict.Holds], v.Select(x => x.Verdict));
        Assert.Equal(0.025, v[0].Difference.Mean, 1e-12);
        var expected = PairedDifference.Holm(v.Select(x => x.P).ToList());
        Assert.Equal(expected, v.Select(x => x.HolmP));
        Assert.True(v[0].HolmP >= v[0].P);
        Assert.Contains("non-inferiority, margin 1.0: p = ", PairedVerdicts.Cell(v[2]));
        Assert.StartsWith("+2.5 [", PairedVerdicts.Cell(v[0]));
        // With a margin of zero the same small negative mean cannot be called at least as good.
        var strict = table with { Claims = [table.Claims[2] with { NonInferiorityMargin = 0.0 }] };
        Assert.Equal(Verdict.CannotTell, PairedVerdicts.Judge(strict, results, 100, r => r.Probe).Single().Verdict);
    }

    [Fact]
    public void RunsCsvReadsBackTheScoresTheVerdictsUse()
    {
        var runs = new[] { new AblationRunResult("mae", 0, 512, 0.1 + 0.2, 1.0 / 3, 35.44), new AblationRunResult("pixels", 1, 0, 0.5, 0.25, 0) };
        string path = Path.Combine(Path.GetTempPath(), $"runs-{Guid.NewGuid():N}.csv");
        try
        {
            File.WriteAllText(path, AblationReport.RunsCsv(runs));
            var back = AblationReport.ReadRuns(path);
            // Scores round-trip exactly ("R"); training seconds are written to 0.1 s.
            Assert.Equal(runs.Select(r => (r.Row, r.Seed, r.Step, r.Probe, r.Knn)), back.Select(r => (r.Row, r.Seed, r.Step, r.Probe, r.Knn)));
            Assert.Equal([35.4, 0.0], back.Select(r => r.TrainSeconds));
            File.AppendAllText(path, "can,x,512,0.5,0.5,1\n");
            Assert.StartsWith($"{path}: line 4: ", Assert.Throws<InvalidDataException>(() => AblationReport.ReadRuns(path)).Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void CmaeAgainstMaeIsATableOfItsOwnWhoseRowsAreShared()
    {
        var t = AblationTables.Get("cmae-vs-mae");
        Assert.Equal(["mae", "cmae"], t.Rows.Select(r => r.Name));
        Assert.Same(AblationTables.CanComponents.Rows[0], t.Rows[0]);
        Assert.Same(AblationTables.CmaeComponents.Rows[0], t.Rows[1]);
        Assert.Equal(0.01, AblationTables.CanComponents.Claims.Single(c => c.Id == "5b").NonInferiorityMargin);
    }
}
