using System.Globalization;
using System.Text;
using CanKit.Catalog;
using CanKit.Evaluation;

namespace CanKit.Ablation;

/// <summary>One accuracy claim judged by the paired per-seed test: the difference, its p-value and Holm's adjustment of it.</summary>
public sealed record PairedVerdict(AblationClaim Claim, PairedDifference Difference, double P, double HolmP, Verdict Verdict);

/// <summary>
/// The tables' claims judged by paired tests. A seed fixes a run's initialisation, batch order and probe seed, so the two
/// rows of a claim are compared seed by seed: the per-seed differences' mean, 95 % t-interval and two-sided p ("A beats B");
/// for a claim that A is at least as accurate as B, the one-sided p of "A is worse by the margin or more". The p-values of
/// one table's accuracy claims (one metric at a time) are Holm-adjusted, so a table's chance of any false verdict is at most
/// 5 %. A claim holds when its adjusted p is below 0.05 in the claimed direction; it does not hold when the difference is
/// significant the other way; otherwise we cannot tell.
/// </summary>
public static class PairedVerdicts
{
    public const double Alpha = 0.05;
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// The accuracy claims of <paramref name="table"/> at <paramref name="steps"/> by <paramref name="metric"/> (FLOPs claims
    /// are not tested).
    /// </summary>
    public static IReadOnlyList<PairedVerdict> Judge(AblationTable table, IReadOnlyList<AblationRunResult> results, long steps,
                                                     Func<AblationRunResult, double> metric)
    {
        var claims = table.Claims.Where(c => c.FlopsRatio is null).ToList();
        var diffs = claims.Select(c => PairedDifference.Of(Scores(c.Better), Scores(c.Worse))).ToList();
        var p = claims.Select((c, i) => c.NonInferiorityMargin is { } m ? diffs[i].NonInferiorityP(m) : diffs[i].P).ToList();
        var holm = PairedDifference.Holm(p);
        var reverse = PairedDifference.Holm(diffs.Select(d => d.P).ToList());   // the difference significant the other way
        return claims.Select((c, i) =>
        {
            var verdict = holm[i] < Alpha && (c.NonInferiorityMargin is not null || diffs[i].Mean > 0) ? Verdict.Holds
                          : reverse[i] < Alpha && diffs[i].Mean < 0 ? Verdict.DoesNotHold
                          : Verdict.CannotTell;
            return new PairedVerdict(c, diffs[i], p[i], holm[i], verdict);
        }).ToList();

        List<double> Scores(string row)
        {
            var runs = results.Where(r => r.Row == row && r.Step == steps).OrderBy(r => r.Seed).ToList();
            if (runs.Count == 0) throw new ArgumentException($"claim of table {table.Name}: no results for row '{row}' at step {steps}", nameof(results));
            return runs.Select(metric).ToList();
        }
    }

    /// <summary>The paired verdicts of a table's claims, both metrics, as a markdown table.</summary>
    public static string Markdown(AblationTable table, IReadOnlyList<AblationRunResult> results, long steps)
    {
        var probe = Judge(table, results, steps, r => r.Probe);
        if (probe.Count == 0) return "";
        var knn = Judge(table, results, steps, r => r.Knn);
        var sb = new StringBuilder("\nPaired per-seed differences (row − row, points: mean [95 % t-interval]; p Holm-adjusted within the table):\n\n" +
                                   "| claim | linear probe | 20-NN |\n|---|---|---|\n");
        for (int i = 0; i < probe.Count; i++)
            sb.Append($"| {probe[i].Claim.Id}: {probe[i].Claim.Better} vs {probe[i].Claim.Worse} | {Cell(probe[i])} | {Cell(knn[i])} |\n");
        return sb.ToString();
    }

    /// <summary>"+1.0 [+0.4, +1.6], p = 0.004 → holds"; a non-inferiority claim names its margin.</summary>
    public static string Cell(PairedVerdict v)
    {
        var d = v.Difference;
        string test = v.Claim.NonInferiorityMargin is { } m ? string.Create(Inv, $"non-inferiority, margin {100 * m:F1}: ") : "";
        return string.Create(Inv, $"{AblationReport.SignedPoints(d.Mean)} [{AblationReport.SignedPoints(d.Low)}, {AblationReport.SignedPoints(d.High)}], ") +
               $"{test}p = {P(v.HolmP)} → {Text(v.Verdict)}";
    }

    public static string Text(Verdict v) => v switch
    {
        Verdict.Holds => "holds",
        Verdict.DoesNotHold => "does not hold (significant the other way)",
        _ => "cannot tell",
    };

    private static string P(double p) => p < 0.001 ? "< 0.001" : p.ToString(p < 0.1 ? "F3" : "F2", Inv);
}
