using System.CommandLine;
using System.Text.Json;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench threads`: which thread settings make CanKit fastest on this machine. Crosses libtorch's
/// intra-op thread count (set in-process) with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS unset or 1 (read once
/// at process start, so each environment gets its own child `cankit bench worker`), and measures every
/// combination side by side in one run.
/// </summary>
internal static class ThreadsBench
{
    /// <summary>
    /// The environments compared; null removes a variable from the child's environment. OpenBLAS (pthread
    /// build) sizes its own thread pool from OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the core count;
    /// libtorch's intra-op setting does not change it.
    /// </summary>
    private static readonly (string Name, Dictionary<string, string?> Env)[] Environments =
    [
        // "env unset": CanKit's defaults (it sets GOMP_SPINCOUNT and OPENBLAS_THREAD_TIMEOUT itself when they are unset).
        (Default, new() { ["OMP_NUM_THREADS"] = null, ["OPENBLAS_NUM_THREADS"] = null }),
        ("OMP=1", new() { ["OMP_NUM_THREADS"] = "1", ["OPENBLAS_NUM_THREADS"] = null }),
        ("OPENBLAS=1", new() { ["OMP_NUM_THREADS"] = null, ["OPENBLAS_NUM_THREADS"] = "1" }),
        ("OMP=1 OPENBLAS=1", new() { ["OMP_NUM_THREADS"] = "1", ["OPENBLAS_NUM_THREADS"] = "1" }),
        // libgomp's idle workers spin before sleeping (CanKit: GOMP_SPINCOUNT=10000, ~0.1 ms); passive makes them
        // sleep at once (CanKit's earlier default), active spins for minutes (libgomp's default without CanKit is 3 ms).
        ("OMP_WAIT_POLICY=PASSIVE", new() { ["OMP_NUM_THREADS"] = null, ["OPENBLAS_NUM_THREADS"] = null, ["OMP_WAIT_POLICY"] = "PASSIVE" }),
        ("GOMP_SPINCOUNT=300000", new() { ["OMP_NUM_THREADS"] = null, ["OPENBLAS_NUM_THREADS"] = null, ["GOMP_SPINCOUNT"] = "300000" }),
        // OpenBLAS's idle threads spin on sched_yield for 2^timeout cycles after a GEMM (default 28; CanKit sets 4).
        ("OPENBLAS_THREAD_TIMEOUT=28", new() { ["OMP_NUM_THREADS"] = null, ["OPENBLAS_NUM_THREADS"] = null, ["OPENBLAS_THREAD_TIMEOUT"] = "28" }),
        // CanKit loads Debian's OpenMP build of OpenBLAS when installed (GEMMs on libgomp's pool); "system" keeps the
        // libblas.so.3 the system selects (usually the pthread build, with its own pool).
        ("CANKIT_BLAS=system", new() { ["OMP_NUM_THREADS"] = null, ["OPENBLAS_NUM_THREADS"] = null, ["CANKIT_BLAS"] = "system" }),
    ];

    private const string Default = "env unset";

    public static Command Create()
    {
        var common = new BenchCommand.CommonOptions();
        var threads = new Option<int[]>("--threads")
        {
            Description = "intra-op thread counts to compare (default: 1 and one per core)",
            AllowMultipleArgumentsPerToken = true,
        };
        var withTorch = new Option<bool>("--with-pytorch") { Description = "also run PyTorch under each environment" };
        var only = new Option<string[]>("--env")
        {
            Description = "compare only these environments (names as in the table, e.g. \"OMP=1\"); the default one is always kept",
            AllowMultipleArgumentsPerToken = true,
        };
        var step = new Option<bool>("--step") { Description = "also time the reference CAN training step (3 steps per measurement; CanKit only)" };
        var cmd = new Command("threads", "GEMM and a ViT MLP step under intra-op threads × OMP/OPENBLAS_NUM_THREADS") { threads, withTorch, only, step };
        common.AddTo(cmd);
        cmd.SetAction(r => BenchCommand.Guard(() =>
        {
            int[] ts = r.GetValue(threads) is { Length: > 0 } given ? given : [1, Environment.ProcessorCount];
            return Run(common.RoundsOf(r), ts.Distinct().ToArray(), r.GetValue(withTorch), r.GetValue(only) ?? [], r.GetValue(step),
                       r.GetValue(common.Quick), r.GetValue(common.Json), TimeSpan.FromMilliseconds(r.GetValue(common.SettleMs)));
        }));
        return cmd;
    }

    private static int Run(int rounds, int[] threads, bool withTorch, string[] only, bool step, bool quick, FileInfo? json, TimeSpan settle)
    {
        if (threads.Any(t => t < 1)) throw new ArgumentException("--threads values must be ≥ 1");
        if (step && withTorch) throw new ArgumentException("--step runs on CanKit workers only; drop --with-pytorch");
        var environments = Environments.ToList();
        foreach (string name in only)
            if (!environments.Any(e => e.Name == name))
                throw new ArgumentException($"--env: no environment '{name}'; known: {string.Join(", ", environments.Select(e => $"'{e.Name}'"))}");
        if (only.Length > 0) environments.RemoveAll(e => e.Name != Default && !only.Contains(e.Name));
        var workers = new List<IBenchWorker>();
        try
        {
            var sides = new List<Side>();
            var infos = new List<(string Name, WorkerInfo Info)>();
            foreach (var (envName, baseEnv) in environments)
            {
                // The thread count is set explicitly per run, so CanKit's own variable must not interfere.
                var env = new Dictionary<string, string?>(baseEnv) { ["CANKIT_NUM_THREADS"] = null };
                env.TryAdd("OMP_WAIT_POLICY", null);
                env.TryAdd("GOMP_SPINCOUNT", null);
                env.TryAdd("OPENBLAS_THREAD_TIMEOUT", null);
                env.TryAdd("CANKIT_BLAS", null);
                var engines = new List<IBenchWorker> { ChildWorker.CanKit($"CanKit {envName}", env) };
                if (withTorch) engines.Add(ChildWorker.PyTorch($"PyTorch {envName}", env));
                foreach (var w in engines)
                {
                    workers.Add(w);
                    infos.Add((w.Name, w.Info(threads[0])));
                    foreach (int t in threads) sides.Add(new Side($"{w.Name}, t={t}", w, t));
                }
            }
            var workloads = Workload.ThreadsSet(quick).ToList();
            if (step) workloads.Add(Workload.CanStep(quick ? 8 : 64, 3));
            // The default CanKit configuration: environment untouched, one intra-op thread per core.
            int baseline = sides.FindIndex(s => s.Name == $"CanKit {Default}, t={threads.Max()}");

            Console.WriteLine($"machine: {MachineInfo.Cores} cores, {MachineInfo.CpuModel}");
            var first = infos[0].Info;
            Console.WriteLine($"engine:  {first.Engine}, {EngineBench.ParallelBackend(first.ParallelInfo)}, " +
                              $"BLAS {string.Join(", ", first.Blas.Select(Path.GetFileName).Distinct())}");
            Console.WriteLine($"{sides.Count} settings × {workloads.Count} workloads, {rounds} rounds, interleaved{(quick ? ", quick sizes" : "")} ...");

            var run = SideBySide.Run(sides, workloads, rounds, settle, Console.Out);

            Console.WriteLine();
            var table = new MarkdownTable(["setting", .. workloads.SelectMany(w => new[] { $"{w.Key} ({w.Unit})", $"{w.Key} vs default" }), "geomean vs default"]);
            table.RightAligned.UnionWith(Enumerable.Range(1, 2 * workloads.Count + 1));
            var score = new double[sides.Count];
            for (int s = 0; s < sides.Count; s++)
            {
                var cells = new List<string> { sides[s].Name };
                double logSum = 0;
                for (int w = 0; w < workloads.Count; w++)
                {
                    double ratio = SideBySide.MedianOf(run.Ratios(s, baseline, w));
                    double speedup = workloads[w].HigherIsBetter ? ratio : 1 / ratio;
                    logSum += Math.Log(speedup);
                    cells.Add(EngineBench.Fmt(run.Median(s, w)));
                    cells.Add($"{speedup:F2}×");
                }
                score[s] = Math.Exp(logSum / workloads.Count);
                cells.Add($"{score[s]:F2}×");
                table.Add([.. cells]);
            }
            Console.Write(table);
            Console.WriteLine($"\nmedians over {rounds} rounds; \"vs default\" = median per-round speedup over " +
                              $"'{sides[baseline].Name}' (>1 is faster) ({run.Elapsed.TotalSeconds:F1} s)");
            for (int w = 0; w < workloads.Count; w++)
            {
                int best = Enumerable.Range(0, sides.Count).MaxBy(s => workloads[w].HigherIsBetter ? run.Median(s, w) : -run.Median(s, w));
                Console.WriteLine($"best for {workloads[w].Key}: {sides[best].Name}");
            }
            int bestAll = Enumerable.Range(0, sides.Count).MaxBy(s => score[s]);
            Console.WriteLine($"best overall (geomean): {sides[bestAll].Name}");

            if (json != null)
            {
                var doc = new
                {
                    bench = "threads",
                    command = "cankit " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                    machine = new { cores = MachineInfo.Cores, cpu = MachineInfo.CpuModel },
                    workers = infos.Select(i => new { name = i.Name, info = i.Info }),
                    baseline = sides[baseline].Name,
                    geomean_vs_baseline = sides.Select((s, i) => new { name = s.Name, score = score[i] }),
                    results = run.ToJson(),
                };
                File.WriteAllText(json.FullName, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
                Console.WriteLine($"wrote {json.FullName}");
            }
            return 0;
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }
}
