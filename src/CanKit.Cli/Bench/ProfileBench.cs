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
        var scaling = new Option<bool>("--scaling") { Description = "time the phases at 1 thread and at all threads, alternating, and print each phase's speedup (where the serial time is)" };
        var cmd = new Command("profile", "libtorch's op profile of the reference training step (Chrome trace + table)") { steps, method, batch, top, trace, composed, scaling };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(steps), r.GetValue(method)!, r.GetValue(batch), r.GetValue(top), r.GetValue(trace)!, r.GetValue(composed), r.GetValue(scaling))));
        return cmd;
    }

    private static int Run(int steps, string method, int batch, int top, FileInfo trace, bool composed, bool scaling)
    {
        if (steps < 1) throw new ArgumentException($"--steps must be ≥ 1 (got {steps})");
        using var reference = new ReferenceStep(method, batch);
        using var attention = Torch.Override(EngineSetting.FusedAttention, !composed);
        void Step() => reference.Run();
        Step();
        // Phases without the profiler: forward, backward, optimizer (median over the same number of steps).
        int rounds = Math.Max(steps, 3);
        if (scaling)
        {
            // One step at 1 thread, one at all threads, alternating: a phase whose speedup is far below the GEMM's
            // (`bench threads`) has serial or poorly balanced work in it.
            int all = Torch.NumThreads;
            if (all < 2) throw new ArgumentException($"--scaling needs more than one intra-op thread (this process has {all})");
            var one = NewPhases();
            var many = NewPhases();
            try
            {
                for (int i = 0; i < rounds; i++)
                {
                    Torch.NumThreads = 1;
                    TimePhases(reference, one);
                    Torch.NumThreads = all;
                    TimePhases(reference, many);
                }
            }
            finally { Torch.NumThreads = all; }
            var scalingTable = new MarkdownTable("phase", "1 thread (ms)", $"{all} threads (ms)", "speedup");
            scalingTable.RightAligned.UnionWith([1, 2, 3]);
            string[] names = ["forward", "backward", "optimizer", "step"];
            for (int p = 0; p < 4; p++)
            {
                double a = SideBySide.MedianOf(one[p]), b = SideBySide.MedianOf(many[p]);
                scalingTable.Add(names[p], $"{a:F1}", $"{b:F1}", $"{a / b:F2}×");
            }
            Console.WriteLine($"{method} step, {batch} images/view, medians of {rounds} alternating steps per thread count:");
            Console.Write(scalingTable);
            return 0;
        }
        var phases = NewPhases();
        for (int i = 0; i < rounds; i++) TimePhases(reference, phases);
        Console.WriteLine($"profiler off, median of {rounds} steps: forward {SideBySide.MedianOf(phases[0]):F1} ms, backward {SideBySide.MedianOf(phases[1]):F1} ms, " +
                          $"optimizer {SideBySide.MedianOf(phases[2]):F1} ms");
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
        Console.WriteLine($"listed: {ops.Take(top).Sum(o => o.SelfMs) / wall:P0} of the profiled time; all ops: {ops.Sum(o => o.SelfMs) / wall:P0} (the rest is outside the named ops: managed code, dispatch)");
        return 0;
    }

    private static List<double>[] NewPhases() => [[], [], [], []];

    // Forward, backward, optimizer and the whole step of one step, in ms, appended to phases[0..3].
    private static void TimePhases(ReferenceStep reference, List<double>[] phases)
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
        phases[3].Add(Stopwatch.GetElapsedTime(t0, t3).TotalMilliseconds);
    }
}
