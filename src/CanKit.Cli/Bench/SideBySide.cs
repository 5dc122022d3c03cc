using System.CommandLine;
using System.Diagnostics;

namespace CanKit.Cli.Bench;

/// <summary>
/// Named contenders measured in alternating rounds: round r runs every contender once, starting with contender
/// (r mod count) so none always goes first. On a shared, noisy machine only measurements taken close together are
/// comparable, so results are medians over rounds and ratios are medians of per-round ratios (each pairs two
/// measurements taken seconds apart).
/// </summary>
internal sealed class SideBySide
{
    private readonly Dictionary<string, List<double>> _values;

    public IReadOnlyList<string> Names { get; }
    public int Rounds { get; }
    public TimeSpan Elapsed { get; private set; }

    private SideBySide(IReadOnlyList<string> names, int rounds)
    {
        Names = names;
        Rounds = rounds;
        _values = names.ToDictionary(n => n, _ => new List<double>());
    }

    /// <summary>The flags of a side-by-side bench: --rounds, --steps per round per contender, --batch (images per view).</summary>
    public static (Option<int> Rounds, Option<int> Steps, Option<int> Batch) Options(string steps, string batch) =>
        (new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 5 },
         new Option<int>("--steps") { Description = $"{steps} per round per contender (their median is the round's figure)", DefaultValueFactory = _ => 3 },
         new Option<int>("--batch") { Description = batch, DefaultValueFactory = _ => 64 });

    /// <param name="contenders">Each returns one measurement (ms per step, GFLOP/s, …) per call.</param>
    /// <param name="afterRound">Called with the 0-based round and the results so far (progress lines).</param>
    public static SideBySide Run(IReadOnlyList<(string Name, Func<double> Measure)> contenders, int rounds, Action<int, SideBySide>? afterRound = null)
    {
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {rounds})");
        var r = new SideBySide(contenders.Select(c => c.Name).ToList(), rounds);
        var sw = Stopwatch.StartNew();
        for (int round = 0; round < rounds; round++)
        {
            for (int k = 0; k < contenders.Count; k++)
            {
                var (name, measure) = contenders[(k + round) % contenders.Count];
                r._values[name].Add(measure());
            }
            afterRound?.Invoke(round, r);
        }
        r.Elapsed = sw.Elapsed;
        return r;
    }

    /// <summary>The measurements of <paramref name="name"/>, one per round so far, in round order.</summary>
    public IReadOnlyList<double> Values(string name) => _values[name];

    public double Median(string name) => MedianOf(_values[name]);

    /// <summary>Median over rounds of <paramref name="name"/> ÷ <paramref name="baseline"/> measured in the same round.</summary>
    public double MedianRatio(string name, string baseline) => MedianOf(_values[name].Zip(_values[baseline], (a, b) => a / b));

    public static double MedianOf(IEnumerable<double> xs)
    {
        double[] a = xs.OrderBy(x => x).ToArray();
        if (a.Length == 0) return double.NaN;
        int m = a.Length / 2;
        return a.Length % 2 == 1 ? a[m] : (a[m - 1] + a[m]) / 2;
    }
}
