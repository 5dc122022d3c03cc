using System.Globalization;
using System.Text;
using CanKit.Catalog;
using CanKit.Evaluation;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Ablation;

/// <summary>One row of a table at one budget: its seeds' linear-probe and k-NN summaries, FLOPs and training time.</summary>
public sealed record AblationRow(string Table, string Row, long Steps, SeedSummary Probe, SeedSummary Knn, double GflopPerStep, double TrainMinutes);

/// <summary>How a claim fares at our scale: its rows' 95 % intervals apart in its favour, apart against it, or overlapping.</summary>
public enum Verdict { Holds, DoesNotHold, CannotTell }

/// <summary>The tables' rows from the runs' scores, the claims' verdicts, and the CSV and markdown they are written as.</summary>
public static class AblationReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The rows of <paramref name="table"/> at <paramref name="steps"/> (the budget or a budget-study point).</summary>
    public static IReadOnlyList<AblationRow> Summarise(AblationTable table, IReadOnlyList<AblationRunResult> results,
                                                      AblationSettings settings, VitConfig encoder, long steps) =>
        table.Rows.Select(row =>
        {
            var runs = results.Where(r => r.Row == row.Name && r.Step == steps).ToList();
            if (runs.Count == 0) throw new InvalidOperationException($"no results for row '{row.Name}' at step {steps}");
            return new AblationRow(table.Name, row.Name, steps, SeedSummary.Of(runs.Select(r => r.Probe).ToList()),
                SeedSummary.Of(runs.Select(r => r.Knn).ToList()),
                StepFlops.Of(settings.Spec(row, 0).MethodSpec(), encoder, settings.Batch) / 1e9, runs.Average(r => r.TrainSeconds) / 60);
        }).ToList();

    /// <summary>
    /// The raw-pixel row of <paramref name="table"/> (<see cref="AblationRunner.PixelsRow"/>: its seeds' step-0 results), shown
    /// at <paramref name="steps"/> beside the trained rows; no FLOPs, no training.
    /// </summary>
    public static AblationRow PixelsRow(AblationTable table, IReadOnlyList<AblationRunResult> results, long steps)
    {
        var runs = results.Where(r => r.Row == AblationRunner.PixelsRow).ToList();
        if (runs.Count == 0) throw new InvalidOperationException($"no results for the {AblationRunner.PixelsRow} row");
        return new AblationRow(table.Name, AblationRunner.PixelsRow, steps, SeedSummary.Of(runs.Select(r => r.Probe).ToList()),
                               SeedSummary.Of(runs.Select(r => r.Knn).ToList()), 0, 0);
    }

    /// <summary>
    /// The verdict on <paramref name="claim"/> from <paramref name="rows"/> by <paramref name="metric"/>: holds when the
    /// better row's interval lies wholly above the worse row's, does not hold when wholly below, cannot tell when they
    /// overlap (or a row has one seed). A FLOPs claim holds when the ratio is within 25 % of the paper's.
    /// </summary>
    public static (Verdict Verdict, string Evidence) Judge(AblationClaim claim, IReadOnlyList<AblationRow> rows, Func<AblationRow, SeedSummary> metric)
    {
        AblationRow Find(string name) => rows.FirstOrDefault(r => r.Row == name)
                                         ?? throw new ArgumentException($"claim {claim.Id}: no row '{name}' in the table", nameof(rows));
        var (b, w) = (Find(claim.Better), Find(claim.Worse));
        if (claim.FlopsRatio is { } expected)
        {
            double ratio = b.GflopPerStep / w.GflopPerStep;
            bool near = Math.Abs(Math.Log(ratio / expected)) <= Math.Log(1.25);
            return (near ? Verdict.Holds : Verdict.DoesNotHold, string.Create(Inv, $"{ratio:F2}× (paper {expected:F1}×)"));
        }
        var (mb, mw) = (metric(b), metric(w));
        var verdict = mb.Low > mw.High ? Verdict.Holds : mb.High < mw.Low ? Verdict.DoesNotHold : Verdict.CannotTell;
        return (verdict, $"{SignedPoints(mb.Mean - mw.Mean)} pts");
    }

    /// <summary>A difference of accuracies (fractions) in percentage points with its sign: "+1.3", "-0.4".</summary>
    public static string SignedPoints(double difference)
    {
        double p = Math.Round(100 * difference, 1);
        return (p >= 0 ? "+" : "-") + Math.Abs(p).ToString("F1", Inv);
    }

    public static string Text(Verdict v) => v switch
    {
        Verdict.Holds => "holds",
        Verdict.DoesNotHold => "does not hold at our scale",
        _ => "cannot tell (intervals overlap)",
    };

    public const string CsvHeader = "table,row,steps,seeds,probe_mean,probe_sd,probe_lo,probe_hi,knn_mean,knn_sd,knn_lo,knn_hi,gflop_per_step,train_minutes";

    /// <summary>Rows as CSV (accuracies as fractions, invariant culture, "NaN" where a value has no meaning).</summary>
    public static string ToCsv(IEnumerable<AblationRow> rows)
    {
        var sb = new StringBuilder(CsvHeader).Append('\n');
        foreach (var r in rows)
            sb.Append(string.Create(Inv, $"{r.Table},{r.Row},{r.Steps}," +
                                         $"{r.Probe.Count},{r.Probe.Mean:R},{r.Probe.StdDev:R},{r.Probe.Low:R},{r.Probe.High:R}," +
                                         $"{r.Knn.Mean:R},{r.Knn.StdDev:R},{r.Knn.Low:R},{r.Knn.High:R}," +
                                         $"{r.GflopPerStep:R},{r.TrainMinutes:R}\n"));
        return sb.ToString();
    }

    /// <summary>Reads what <see cref="ToCsv"/> wrote; a malformed line is an <see cref="InvalidDataException"/> naming the file and line.</summary>
    public static IReadOnlyList<AblationRow> ReadCsv(string path) => ReadTable(path, CsvHeader, "ablation", 14, f =>
    {
        int n = int.Parse(f[3], Inv);
        return new AblationRow(f[0], f[1], long.Parse(f[2], Inv), new SeedSummary(n, D(f, 4), D(f, 5), D(f, 6), D(f, 7)),
                               new SeedSummary(n, D(f, 8), D(f, 9), D(f, 10), D(f, 11)), D(f, 12), D(f, 13));
    });

    // The lines after a header, each split at commas into `fields` fields and parsed; errors name the file and the line.
    private static List<T> ReadTable<T>(string path, string header, string what, int fields, Func<string[], T> parse)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != header) throw new InvalidDataException($"{path}: line 1 is not the {what} header '{header}'");
        var rows = new List<T>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var f = lines[i].Split(',');
            try
            {
                if (f.Length != fields) throw new FormatException($"{f.Length} fields, expected {fields}");
                rows.Add(parse(f));
            }
            catch (FormatException e)
            {
                throw new InvalidDataException($"{path}: line {i + 1}: {e.Message}", e);
            }
        }
        return rows;
    }

    private static double D(string[] f, int j) => double.Parse(f[j], NumberStyles.Float, Inv);

    public const string RunsHeader = "row,seed,step,probe,knn,train_seconds";

    /// <summary>Every run's scores as CSV (runs.csv): the per-seed values the paired verdicts are computed from.</summary>
    public static string RunsCsv(IEnumerable<AblationRunResult> results)
    {
        var sb = new StringBuilder(RunsHeader).Append('\n');
        foreach (var r in results) sb.Append(string.Create(Inv, $"{r.Row},{r.Seed},{r.Step},{r.Probe:R},{r.Knn:R},{r.TrainSeconds:F1}\n"));
        return sb.ToString();
    }

    /// <summary>Reads what <see cref="RunsCsv"/> wrote; a malformed line is an <see cref="InvalidDataException"/> naming the file and line.</summary>
    public static IReadOnlyList<AblationRunResult> ReadRuns(string path) => ReadTable(path, RunsHeader, "runs", 6,
        f => new AblationRunResult(f[0], int.Parse(f[1], Inv), long.Parse(f[2], Inv), D(f, 3), D(f, 4), D(f, 5)));

    private static string Pct(SeedSummary s) => double.IsNaN(s.Low)
        ? string.Create(Inv, $"{100 * s.Mean:F1}")
        : string.Create(Inv, $"{100 * s.Mean:F1} ± {100 * s.StdDev:F1} [{100 * s.Low:F1}, {100 * s.High:F1}]");

    /// <summary>
    /// A table and its claims' verdicts as markdown: with the runs' <paramref name="results"/>, the paired per-seed tests
    /// (<see cref="PairedVerdicts"/>), then the older rule that compares the rows' own intervals.
    /// </summary>
    public static string Markdown(AblationTable table, IReadOnlyList<AblationRow> rows, IReadOnlyList<AblationRunResult>? results = null)
    {
        int seeds = rows.Count > 0 ? rows[0].Probe.Count : 0;
        var sb = new StringBuilder($"### {table.Name}: {table.Title}\n\n");
        sb.Append(string.Create(Inv, $"{seeds} seeds, {rows.FirstOrDefault()?.Steps} steps; top-1 in %: mean ± sd [95 % t-interval]\n\n"));
        sb.Append("| row | linear probe | 20-NN | GFLOP/step | training min/run |\n|---|---|---|---|---|\n");
        foreach (var r in rows)
            sb.Append(r.Row == AblationRunner.PixelsRow
                ? $"| raw pixels (no training) | {Pct(r.Probe)} | {Pct(r.Knn)} | – | – |\n"
                : string.Create(Inv, $"| {r.Row} | {Pct(r.Probe)} | {Pct(r.Knn)} | {r.GflopPerStep:F2} | {r.TrainMinutes:F2} |\n"));
        if (rows.FirstOrDefault(r => r.Row == AblationRunner.PixelsRow) is { } px)
        {
            var trained = rows.Where(r => r.Row != AblationRunner.PixelsRow).ToList();
            var above = trained.Where(r => r.Probe.Mean > px.Probe.Mean && r.Knn.Mean > px.Knn.Mean).Select(r => r.Row).ToList();
            string which = above.Count == trained.Count ? "every row" : above.Count == 0 ? "no row" : string.Join(", ", above);
            sb.Append($"\nAbove the raw pixels on both means: {which}.\n");
        }
        if (results is not null && rows.Count > 0) sb.Append(PairedVerdicts.Markdown(table, results, rows[0].Steps));
        if (table.Claims.Count > 0)
        {
            if (results is not null) sb.Append("\nThe rows' own 95 % intervals apart (a stricter rule that ignores the pairing):\n");
            sb.Append("\n| claim | rows | linear probe | 20-NN |\n|---|---|---|---|\n");
            foreach (var c in table.Claims)
            {
                var (vp, ep) = Judge(c, rows, r => r.Probe);
                var (vk, ek) = Judge(c, rows, r => r.Knn);
                string kn = c.FlopsRatio is null ? $"{Text(vk)} ({ek})" : "–";
                sb.Append($"| {c.Id}: {c.Text} | {c.Better} vs {c.Worse} | {Text(vp)} ({ep}) | {kn} |\n");
            }
        }
        return sb.Append('\n').ToString();
    }

    /// <summary>
    /// Kendall's τ-a between two scorings of the same rows: (concordant − discordant pairs) / (n(n−1)/2); 1 is the same
    /// order, −1 the reverse. Ties count as neither.
    /// </summary>
    public static double KendallTau(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"{a.Count} scores against {b.Count}", nameof(b));
        if (a.Count < 2) throw new ArgumentException("needs at least two rows", nameof(a));
        int score = 0;
        for (int i = 0; i < a.Count; i++)
            for (int j = i + 1; j < a.Count; j++)
                score += Math.Sign(a[i] - a[j]) * Math.Sign(b[i] - b[j]);
        return score / (a.Count * (a.Count - 1) / 2.0);
    }

    /// <summary>
    /// The pairs of rows whose <paramref name="metric"/> intervals are apart at one budget (<paramref name="at"/>: the
    /// order <see cref="Judge"/> would call settled), and how many of them keep that order, by mean, at a later budget
    /// (<paramref name="later"/>, the same rows). Kendall's τ weighs every pair alike, so rows within each other's noise
    /// move it as much as rows far apart; a ranking holds from the budget on which the settled pairs stop turning round.
    /// </summary>
    public static (int Settled, int Kept) SettledPairs(IReadOnlyList<AblationRow> at, IReadOnlyList<AblationRow> later, Func<AblationRow, SeedSummary> metric)
    {
        int settled = 0, kept = 0;
        foreach (var a in at)
            foreach (var b in at)
            {
                if (!(metric(a).Low > metric(b).High)) continue;   // a above b, intervals apart
                settled++;
                var la = later.SingleOrDefault(r => r.Row == a.Row)
                         ?? throw new ArgumentException($"row {a.Row} is missing at the later budget", nameof(later));
                var lb = later.SingleOrDefault(r => r.Row == b.Row)
                         ?? throw new ArgumentException($"row {b.Row} is missing at the later budget", nameof(later));
                if (metric(la).Mean > metric(lb).Mean) kept++;
            }
        return (settled, kept);
    }
}
