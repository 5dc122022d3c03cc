using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CanKit.Distributed;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Sampling;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench dp`: images/s of the reference CAN training step (<see cref="StepBench"/>: 32 px, patch 4, ViT
/// 6×192×3, decoder 2×128×4, mask 0.5, AdamW, a global batch of 64 images per view) in 1 process × 2 threads against
/// 2 data-parallel processes × 1 thread (Gloo on 127.0.0.1, global negatives, gradients averaged in 25 MB buckets),
/// in alternating rounds. The workers are started once (this executable's hidden `bench dp-worker`) and told over
/// standard input to run a round, so the idle contender waits without using a core. Beside the images/s: the share of
/// a data-parallel step spent in the gradient all-reduce, the most that overlapping it with backward could win back.
/// </summary>
internal static class DataParallelBench
{
    internal const string Single = "1 process × 2 threads", Parallel = "2 processes × 1 thread";

    public static Command Create()
    {
        var (rounds, steps, batch) = SideBySide.Options("CAN steps", "global images per view (split over the processes)");
        var cmd = new Command("dp", "data-parallel training: 2 processes × 1 thread vs 1 process × 2 threads " +
                                    "on the reference CAN step, side by side")
            { rounds, steps, batch };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(steps), r.GetValue(batch))));
        return cmd;
    }

    /// <summary>The hidden worker: `bench dp-worker &lt;batch&gt; &lt;threads&gt;`, one rank (or the single process).</summary>
    public static Command Worker()
    {
        var batch = new Argument<int>("batch");
        var threads = new Argument<int>("threads");
        var cmd = new Command("dp-worker", "one contender of `bench dp` (started by it)") { batch, threads };
        cmd.Hidden = true;
        cmd.SetAction(r => Cli.Guard(() => Serve(r.GetValue(batch), r.GetValue(threads))));
        return cmd;
    }

    private static int Run(int rounds, int steps, int batch)
    {
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {rounds})");
        if (steps < 1) throw new ArgumentException($"--steps must be ≥ 1 (got {steps})");
        if (batch < 2 || batch % 2 != 0) throw new ArgumentException($"--batch must be even and ≥ 2 (got {batch}): the 2 processes take half each");
        if (ProcessGroup.Unavailable() is { } why) throw new NotSupportedException($"bench dp: {why}");
        Console.WriteLine($"reference CAN step, {batch} images/view in all: 32 px, patch 4, ViT 6×192×3, decoder 2×128×4, mask {StepBench.Mask}, AdamW; " +
                          $"{MachineInfo.CpuModel}, {MachineInfo.Cores} cores, {Cli.EngineVersion}");
        var (file, prefix) = LocalLauncher.Self();
        string[] Args(int threads) => [.. prefix, "bench", "dp-worker", batch.ToString(CultureInfo.InvariantCulture),
                                       threads.ToString(CultureInfo.InvariantCulture)];
        using var single = new Contender(LocalLauncher.Start(file, Args(2), new NodeLayout(1), new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "2" }));
        using var parallel = new Contender(LocalLauncher.Start(file, Args(1), new NodeLayout(2), new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" }));
        single.WaitReady();
        parallel.WaitReady();
        var reduceShare = new List<double>();
        var contenders = new List<(string Name, Func<double> Measure)>
        {
            (Single, () => batch / single.Round(steps).StepSeconds),
            (Parallel, () =>
            {
                var (s, reduce) = parallel.Round(steps);
                reduceShare.Add(reduce / s);
                return batch / s;
            }),
        };
        var res = SideBySide.Run(contenders, rounds, (round, so) =>
            Console.WriteLine($"round {round + 1}/{rounds}: " + string.Join("  ", contenders.Select(c => $"{c.Name} {so.Values(c.Name)[^1]:F1} img/s"))));
        Console.WriteLine();
        var table = new MarkdownTable("layout", "images/s (median)", "ms/step");
        table.RightAligned.UnionWith([1, 2]);
        foreach (var name in new[] { Single, Parallel })
            table.Add(name, $"{res.Median(name):F1}", $"{1000.0 * batch / res.Median(name):F0}");
        Console.Write(table);
        Console.WriteLine($"{Parallel} / {Single} (images/s) = {res.MedianRatio(Parallel, Single):F3}  " +
                          "(median of per-round ratios; > 1: data-parallel faster)");
        Console.WriteLine($"gradient all-reduce: {SideBySide.MedianOf(reduceShare) * 100:F1} % of a data-parallel step " +
                          "(median; the most overlap with backward could save)");
        return 0;
    }

    // The workers' side: the reference step on this rank's half of fixed views, then rounds on request.
    private static int Serve(int batch, int threads)
    {
        torch.set_num_threads(threads);
        using var group = ProcessGroup.InEnvironment() ? ProcessGroup.FromEnvironment() : null;
        int rank = group?.Rank ?? 0, world = group?.WorldSize ?? 1, local = batch / world;
        using var g = new Generator(0);
        using var can = new Can(CanConfig.Paper with { Encoder = StepBench.Encoder, Decoder = StepBench.Decoder, MaskRatio = StepBench.Mask }, g);
        if (group is not null)
        {
            DataParallel.BroadcastState(group, can);
            can.NegativesGroup = group;
        }
        var parameters = can.parameters().Where(p => p.requires_grad).ToList();
        using var opt = optim.AdamW(WeightDecayGroups.Split(can, 0.05, "pos_embed", "mask_token"), lr: 1e-4);
        using var all1 = torch.randn([batch, 3, 32, 32], generator: g);
        using var all2 = torch.randn([batch, 3, 32, 32], generator: g);
        using var v1 = all1.narrow(0, rank * local, local);
        using var v2 = all2.narrow(0, rank * local, local);
        double reduceSeconds = 0;
        double Step()
        {
            using var scope = torch.NewDisposeScope();
            using var shard = group is null ? null : SeededDraws.Enter(rank, world, local);
            var sw = Stopwatch.StartNew();
            opt.zero_grad();
            can.Forward(v1, v2, g).Loss.backward();
            var reduce = Stopwatch.StartNew();
            if (group is not null) DataParallel.AverageGradients(group, parameters);
            reduceSeconds = reduce.Elapsed.TotalSeconds;
            opt.step();
            return sw.Elapsed.TotalSeconds;
        }
        Step();   // untimed: first calls allocate and pick kernels
        Console.WriteLine("ready");
        while (Console.ReadLine() is { } line && line.StartsWith("round ", StringComparison.Ordinal))
        {
            int n = int.Parse(line[6..], CultureInfo.InvariantCulture);
            var times = new List<double>();
            var reduces = new List<double>();
            for (int i = 0; i < n; i++)
            {
                times.Add(Step());
                reduces.Add(reduceSeconds);
            }
            Console.WriteLine(FormattableString.Invariant($"result {SideBySide.MedianOf(times):R} {SideBySide.MedianOf(reduces):R}"));
        }
        return 0;
    }

    // One contender's running processes; rank 0 answers for the group.
    private sealed class Contender(Process[] procs) : IDisposable
    {
        private string Read()
        {
            while (procs[0].StandardOutput.ReadLine() is { } line)
                if (line.StartsWith("ready", StringComparison.Ordinal) || line.StartsWith("result ", StringComparison.Ordinal)) return line;
            string err = string.Join(" | ", procs.Select(p => p.HasExited ? p.StandardError.ReadToEnd().Trim() : "").Where(e => e.Length > 0));
            throw new IOException($"a bench worker stopped: {(err.Length > 0 ? err : "no message")}");
        }

        public void WaitReady() => Read();

        public (double StepSeconds, double ReduceSeconds) Round(int steps)
        {
            foreach (var p in procs) p.StandardInput.WriteLine($"round {steps}");
            foreach (var p in procs) p.StandardInput.Flush();
            var parts = Read().Split(' ');
            // the other ranks answer too; their lines are read so their pipes never fill
            foreach (var p in procs.Skip(1)) p.StandardOutput.ReadLine();
            return (double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
        }

        public void Dispose()
        {
            foreach (var p in procs)
            {
                try { p.StandardInput.Close(); } catch (IOException) { }
            }
            foreach (var p in procs)
            {
                if (!p.WaitForExit(10_000)) p.Kill(entireProcessTree: true);
                p.Dispose();
            }
        }
    }
}
