using System.CommandLine;
using System.Diagnostics;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench profile`: where the reference training step spends its time, op by op, from libtorch's profiler.
/// Writes the Chrome trace and prints the ops by self time with their share of the profiled steps.
/// </summary>
internal static class ProfileBench
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "profiled steps (after one warm-up step)", DefaultValueFactory = _ => 3 };
        var method = new Option<string>("--method") { Description = "can or simclr", DefaultValueFactory = _ => "can" };
        var batch = new Option<int>("--batch") { Description = "images per view", DefaultValueFactory = _ => 64 };
        var top = new Option<int>("--top") { Description = "ops listed", DefaultValueFactory = _ => 25 };
        var trace = new Option<FileInfo>("--trace") { Description = "Chrome trace file", DefaultValueFactory = _ => new FileInfo("cankit-profile.json") };
        var composed = new Option<bool>("--composed-attention") { Description = "attention composed from libtorch ops instead of the fused CPU kernel" };
        var cmd = new Command("profile", "libtorch's op profile of the reference training step (Chrome trace + table)") { steps, method, batch, top, trace, composed };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(steps), r.GetValue(method)!, r.GetValue(batch), r.GetValue(top), r.GetValue(trace)!, r.GetValue(composed))));
        return cmd;
    }

    private static int Run(int steps, string method, int batch, int top, FileInfo trace, bool composed)
    {
        if (steps < 1) throw new ArgumentException($"--steps must be ≥ 1 (got {steps})");
        using var reference = new ReferenceStep(method, batch);
        using var attention = Torch.Override(EngineSetting.FusedAttention, !composed);
        void Step() => reference.Run();
        Step();
        // Phases without the profiler: forward, backward, optimizer (median over the same number of steps).
        var phases = new List<double>[] { [], [], [] };
        for (int i = 0; i < Math.Max(steps, 3); i++)
        {
            using var s = Torch.NewDisposeScope();
            reference.ZeroGrad();
            var t0 = Stopwatch.GetTimestamp();
            using var r = reference.Forward();
            var t1 = Stopwatch.GetTimestamp();
            r.Loss.Backward();
            var t2 = Stopwatch.GetTimestamp();
            reference.OptimizerStep();
            var t3 = Stopwatch.GetTimestamp();
            phases[0].Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            phases[1].Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            phases[2].Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
        }
        static double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        Console.WriteLine($"profiler off, median of {phases[0].Count} steps: forward {Median(phases[0]):F1} ms, backward {Median(phases[1]):F1} ms, " +
                          $"optimizer {Median(phases[2]):F1} ms");
        var sw = Stopwatch.StartNew();
        using (Torch.Profile(trace.FullName))
            for (int i = 0; i < steps; i++) Step();
        double wall = sw.Elapsed.TotalMilliseconds;
        var ops = ProfileSummary.Read(trace.FullName);
        Console.WriteLine($"{method} step, {batch} images/view, {Torch.NumThreads} threads, attention {(composed ? "composed" : "fused where it applies")}: " +
                          $"{steps} profiled steps, {wall / steps:F1} ms per step with the profiler on; trace {trace.FullName}");
        var table = new MarkdownTable("op", "calls/step", "self ms/step", "share", "total ms/step");
        table.RightAligned.UnionWith([1, 2, 3, 4]);
        foreach (var op in ops.Take(top))
            table.Add(op.Name, $"{(double)op.Calls / steps:F0}", $"{op.SelfMs / steps:F1}", $"{op.SelfMs / wall:P1}", $"{op.TotalMs / steps:F1}");
        Console.Write(table);
        Console.WriteLine($"listed: {ops.Take(top).Sum(o => o.SelfMs) / wall:P0} of the profiled time; all ops: {ops.Sum(o => o.SelfMs) / wall:P0} (the rest is outside libtorch ops)");
        return 0;
    }
}
