using System.Diagnostics;

namespace CanKit.Cli.Bench;

/// <summary>One column of a side-by-side run: a worker, and optionally the intra-op threads it runs with.</summary>
public sealed record Side(string Name, IBenchWorker Worker, int? Threads = null);

/// <summary>
/// Runs every workload on every side, round after round, interleaved: round r measures workload w on each side
/// back to back, starting with side (r mod sides) so no side always goes first. On a shared, noisy machine
/// only measurements taken close together are comparable, so results are medians over rounds and ratios
/// are medians of per-round ratios (each pairs two measurements taken seconds apart).
/// </summary>
public sealed class SideBySide
{
    private readonly double[,,] _v;  // [side, workload, round]

    public IReadOnlyList<Side> Sides { get; }
    public IReadOnlyList<Workload> Workloads { get; }
    public int Rounds { get; }
    public TimeSpan Elapsed { get; private set; }

    private SideBySide(IReadOnlyList<Side> sides, IReadOnlyList<Workload> workloads, int rounds)
    {
        Sides = sides;
        Workloads = workloads;
        Rounds = rounds;
        _v = new double[sides.Count, workloads.Count, rounds];
    }

    /// <param name="settle">Pause before each measurement so the previous side's BLAS/OpenMP threads stop spinning.</param>
    public static SideBySide Run(IReadOnlyList<Side> sides, IReadOnlyList<Workload> workloads, int rounds, TimeSpan settle,
                                 TextWriter? progress = null)
    {
        var r = new SideBySide(sides, workloads, rounds);
        var sw = Stopwatch.StartNew();
        for (int round = 0; round < rounds; round++)
        {
            for (int w = 0; w < workloads.Count; w++)
                for (int k = 0; k < sides.Count; k++)
                {
                    int s = (k + round) % sides.Count;
                    if (settle > TimeSpan.Zero) Thread.Sleep(settle);
                    r._v[s, w, round] = sides[s].Worker.Run(workloads[w], sides[s].Threads);
                }
            progress?.WriteLine($"  round {round + 1}/{rounds} done ({sw.Elapsed.TotalSeconds:F1} s)");
        }
        r.Elapsed = sw.Elapsed;
        return r;
    }

    public double[] Values(int side, int workload) =>
        Enumerable.Range(0, Rounds).Select(i => _v[side, workload, i]).ToArray();

    public double Median(int side, int workload) => MedianOf(Values(side, workload));

    /// <summary>Per-round ratios side/baseline for one workload.</summary>
    public double[] Ratios(int side, int baseline, int workload) =>
        Enumerable.Range(0, Rounds).Select(i => _v[side, workload, i] / _v[baseline, workload, i]).ToArray();

    public static double MedianOf(IEnumerable<double> xs)
    {
        double[] a = xs.OrderBy(x => x).ToArray();
        if (a.Length == 0) return double.NaN;
        int m = a.Length / 2;
        return a.Length % 2 == 1 ? a[m] : (a[m - 1] + a[m]) / 2;
    }

    /// <summary>A JSON-friendly view: raw values per side and workload, with medians.</summary>
    public object ToJson() => new
    {
        rounds = Rounds,
        elapsed_s = Math.Round(Elapsed.TotalSeconds, 2),
        workloads = Workloads.Select((w, wi) => new
        {
            key = w.Key,
            label = w.Label,
            unit = w.Unit,
            higher_is_better = w.HigherIsBetter,
            args = w.Args,
            sides = Sides.Select((s, si) => new { name = s.Name, threads = s.Threads, median = Median(si, wi), values = Values(si, wi) }),
        }),
    };
}
