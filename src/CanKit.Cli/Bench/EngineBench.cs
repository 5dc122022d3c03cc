using System.CommandLine;
using System.Text.Json;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench engine`: CanKit and PyTorch (Debian's python3-torch, the same libtorch .so files) run the
/// same workloads alternately in one run: GEMM throughput, per-op overhead of tiny ops, a ViT MLP step.
/// </summary>
internal static class EngineBench
{
    public static Command Create()
    {
        var common = new BenchCommand.CommonOptions();
        var threads = new Option<int>("--threads")
        {
            Description = "intra-op threads, set on both sides (default: CanKit's default, see Torch.NumThreads)",
            DefaultValueFactory = _ => Torch.NumThreads,
        };
        var cmd = new Command("engine", "CanKit vs PyTorch on the same libtorch: GEMM GFLOP/s, per-op overhead, a ViT MLP step") { threads };
        common.AddTo(cmd);
        cmd.SetAction(r => BenchCommand.Guard(() =>
            Run(common.RoundsOf(r), r.GetValue(threads), r.GetValue(common.Quick), r.GetValue(common.Json),
                TimeSpan.FromMilliseconds(r.GetValue(common.SettleMs)))));
        return cmd;
    }

    internal static int Run(int rounds, int threads, bool quick, FileInfo? json, TimeSpan settle)
    {
        if (threads < 1) throw new ArgumentException($"--threads must be ≥ 1 (got {threads})");
        using var torch = ChildWorker.PyTorch("PyTorch", new Dictionary<string, string?>());
        using var cankit = new InProcessWorker();
        WorkerInfo ci = cankit.Info(threads), pi = torch.Info(threads);

        Console.WriteLine($"machine: {MachineInfo.Cores} cores, {MachineInfo.CpuModel}");
        Console.WriteLine($"env:     {MachineInfo.ThreadEnv()}");
        foreach (var (side, i) in new[] { ("CanKit", ci), ("PyTorch", pi) })
        {
            Console.WriteLine($"{side + ":",-8} {i.Engine}, {i.Threads} intra-op threads, {ParallelBackend(i.ParallelInfo)}");
            Console.WriteLine($"         BLAS {string.Join(", ", i.Blas.Select(Path.GetFileName).Distinct())}");
        }
        var workloads = Workload.EngineSet(quick);
        Console.WriteLine($"{rounds} rounds, alternating sides{(quick ? ", quick sizes" : "")} ...");

        var run = SideBySide.Run([new Side("CanKit", cankit), new Side("PyTorch", torch)], workloads, rounds, settle, Console.Out);

        var table = new MarkdownTable("workload", "unit", "CanKit", "PyTorch", "CanKit/PyTorch", "per-round range", "best/best", "faster");
        table.RightAligned.UnionWith([2, 3, 4, 6]);
        for (int w = 0; w < workloads.Count; w++)
        {
            double[] ratios = run.Ratios(0, 1, w);
            double ratio = SideBySide.MedianOf(ratios);
            table.Add(workloads[w].Label, workloads[w].Unit, Fmt(run.Median(0, w)), Fmt(run.Median(1, w)), $"{ratio:F3}",
                      $"{ratios.Min():F2}–{ratios.Max():F2}", $"{BestRatio(run, workloads[w], w):F3}", Faster(workloads[w], ratio));
        }
        Console.WriteLine();
        Console.Write(table);
        Console.WriteLine($"\nmedians over {rounds} rounds; CanKit/PyTorch = median of per-round ratios; best/best = ratio of each " +
                          $"side's best round (least disturbed by other load) ({run.Elapsed.TotalSeconds:F1} s)");

        if (json != null)
        {
            var doc = new
            {
                bench = "engine",
                command = "cankit " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                machine = new { cores = MachineInfo.Cores, cpu = MachineInfo.CpuModel, env = MachineInfo.ThreadEnv() },
                cankit = ci,
                pytorch = pi,
                ratios_cankit_over_pytorch = workloads.Select((wl, w) => new
                {
                    key = wl.Key,
                    median = SideBySide.MedianOf(run.Ratios(0, 1, w)),
                    best_over_best = BestRatio(run, wl, w),
                    values = run.Ratios(0, 1, w),
                }),
                results = run.ToJson(),
            };
            File.WriteAllText(json.FullName, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {json.FullName}");
        }
        return 0;
    }

    /// <summary>CanKit's best round over PyTorch's best round (max for throughputs, min for times).</summary>
    private static double BestRatio(SideBySide run, Workload w, int wi) => w.HigherIsBetter
        ? run.Values(0, wi).Max() / run.Values(1, wi).Max()
        : run.Values(0, wi).Min() / run.Values(1, wi).Min();

    /// <summary>"CanKit 1.23×" or "PyTorch 1.05×": who wins and by how much, whichever way the unit points.</summary>
    internal static string Faster(Workload w, double ratio, string a = "CanKit", string b = "PyTorch")
    {
        double speedup = w.HigherIsBetter ? ratio : 1 / ratio;
        return speedup >= 1 ? $"{a} {speedup:F2}×" : $"{b} {1 / speedup:F2}×";
    }

    internal static string Fmt(double v) => v >= 100 ? v.ToString("F1") : v >= 10 ? v.ToString("F2") : v.ToString("F3");

    /// <summary>The backend line of libtorch's parallel info ("ATen parallel backend: OpenMP").</summary>
    internal static string ParallelBackend(string info) =>
        info.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("ATen parallel backend", StringComparison.Ordinal))
            ?.Replace("ATen parallel backend: ", "backend ") ?? "backend unknown";
}
