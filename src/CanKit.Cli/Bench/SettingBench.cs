using System.CommandLine;
using System.Diagnostics;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench setting NAME`: one engine switch on against off, on the reference CAN (or SimCLR) training step,
/// step by step in alternation (on, off, off, on, …) so that a shared machine's drifting speed hits both sides alike.
/// Reports the median of the per-pair ratios with its interquartile range: a few-percent change is visible where
/// medians of separate rounds are lost in the noise.
/// </summary>
internal static class SettingBench
{
    public static Command Create()
    {
        var name = new Argument<EngineSetting>("setting") { Description = string.Join(", ", Enum.GetNames<EngineSetting>()) };
        var pairs = new Option<int>("--pairs") { Description = "on/off step pairs", DefaultValueFactory = _ => 20 };
        var method = new Option<string>("--method") { Description = "can or simclr", DefaultValueFactory = _ => "can" };
        var batch = new Option<int>("--batch") { Description = "images per view", DefaultValueFactory = _ => 64 };
        var cmd = new Command("setting", "one engine switch on vs off on the reference training step, alternating step by step") { name, pairs, method, batch };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(name), r.GetValue(pairs), r.GetValue(method)!, r.GetValue(batch))));
        return cmd;
    }

    private static int Run(EngineSetting setting, int pairs, string method, int batch)
    {
        if (pairs < 3) throw new ArgumentException($"--pairs must be ≥ 3 (got {pairs})");
        using var reference = new ReferenceStep(method, batch);
        double Step(bool on)
        {
            using var o = Torch.Override(setting, on);
            long t0 = Stopwatch.GetTimestamp();
            reference.Run();
            return Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Step(true);
        Step(false);
        var on = new List<double>();
        var off = new List<double>();
        var ratio = new List<double>();
        for (int i = 0; i < pairs; i++)
        {
            // ABBA order: neither side always runs first (caches, a neighbour's burst).
            double a, b;
            if (i % 2 == 0) { a = Step(true); b = Step(false); }
            else { b = Step(false); a = Step(true); }
            on.Add(a);
            off.Add(b);
            ratio.Add(b / a);
            if ((i + 1) % 5 == 0 || i + 1 == pairs)
                Console.WriteLine($"  {i + 1}/{pairs} pairs: on {Quantile(on, 0.5):F1} ms, off {Quantile(off, 0.5):F1} ms, off/on {Quantile(ratio, 0.5):F3}");
        }
        Console.WriteLine($"{method} step, {batch} images/view, {Torch.NumThreads} threads, {setting}: on {Quantile(on, 0.5):F1} ms, off {Quantile(off, 0.5):F1} ms (medians of {pairs})");
        Console.WriteLine($"off / on, median of per-pair ratios: {Quantile(ratio, 0.5):F3} (interquartile {Quantile(ratio, 0.25):F3}–{Quantile(ratio, 0.75):F3}; " +
                          $"{ratio.Count(x => x > 1)} of {pairs} pairs faster with it on)");
        return 0;
    }

    private static double Quantile(List<double> v, double q)
    {
        var s = v.OrderBy(x => x).ToArray();
        double pos = q * (s.Length - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
}
