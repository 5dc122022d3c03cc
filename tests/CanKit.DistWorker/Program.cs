using System.Diagnostics;
using System.Globalization;
using CanKit;
using CanKit.Data;
using CanKit.Distributed;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Nn;
using CanKit.Optim;
using CanKit.Training;
using CanKit.Vision;

// One rank of a multi-process test; the group comes from MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE (none: one process).
//   equiv <can|cmae> <steps> <globalBatch> <out.safetensors>   same samples, views, masks and noise at any world size
//   train <can|cmae> <runDir> <steps> <globalBatch> <dieRank> <dieStep>   the Trainer; rank dieRank kills itself after dieStep
//   bench <steps> <globalBatch>                                CAN training throughput (global images/s)
//   scaling <steps> <globalBatch>                              bench with 1 process (1 and 2 threads) and 2 processes (1 thread each)
try
{
    return args[0] switch
    {
        "equiv" => Worker.Equivalence(args[1], int.Parse(args[2]), int.Parse(args[3]), args[4]),
        "train" => Worker.Train(args[1], args[2], int.Parse(args[3]), int.Parse(args[4]), int.Parse(args[5]), int.Parse(args[6])),
        "bench" => Worker.Bench(int.Parse(args[1]), int.Parse(args[2])),
        "scaling" => Worker.Scaling(int.Parse(args[1]), int.Parse(args[2])),
        _ => throw new ArgumentException($"unknown mode {args[0]}"),
    };
}
catch (Exception e)
{
    Console.Error.WriteLine($"error: {e.GetType().Name}: {e.Message}");
    return 1;
}

internal static class Worker
{
    private static readonly VitConfig Enc = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 1, Heads = 2 };
    private static readonly DecoderConfig Dec = new() { Width = 16, Depth = 1, Heads = 2 };

    private static ProcessGroup? Group() =>
        ProcessGroup.InEnvironment() ? ProcessGroup.FromEnvironment(timeout: TimeSpan.FromSeconds(Timeout())) : null;

    private static double Timeout() =>
        double.TryParse(Environment.GetEnvironmentVariable("CANKIT_DIST_TIMEOUT"), CultureInfo.InvariantCulture, out double s) ? s : 60;

    // Rows of rank r in a tensor whose dim 0 holds the global batch of `global` samples (blocks = 2 for CAN's
    // stacked [view 1 of all; view 2 of all] layout): each block's rows [r·B, (r+1)·B).
    private static Tensor Shard(Tensor t, int global, int blocks, int rank, int world)
    {
        int b = global / world;
        var parts = Enumerable.Range(0, blocks).Select(k => t.Narrow(0, k * global + rank * b, b)).ToList();
        return Tensor.Cat(parts, 0);
    }

    /// <summary>
    /// SGD with momentum on CAN or CMAE (global negatives) where every sample's views, mask noise, σ and e come from
    /// a generator shared by all ranks, so W processes × B/W see exactly what 1 process × B sees. Rank 0 writes the
    /// averaged gradients of step 1 (grad.*) and the final state (model.*).
    /// </summary>
    public static int Equivalence(string method, int steps, int global, string outFile)
    {
        using var group = Group();
        int rank = group?.Rank ?? 0, world = group?.WorldSize ?? 1;
        using var g = new Generator(7);
        Module model = method switch
        {
            "can" => new Can(new CanConfig { Encoder = Enc with { ClsToken = false }, Decoder = Dec, ProjectionDim = 16 }, g),
            "cmae" => new Cmae(new CmaeConfig { Encoder = Enc, PixelDecoder = Dec, FeatureDecoder = new DecoderConfig { Width = 32, Depth = 1, Heads = 2 }, ProjectionDim = 16, ProjectionHidden = 32 }, g),
            _ => throw new ArgumentException(method),
        };
        using var _ = model;
        if (group is not null) DataParallel.BroadcastState(group, model);
        if (model is Can can) can.NegativesGroup = group;
        if (model is Cmae cm) cm.NegativesGroup = group;
        var trainable = model.NamedParameters().Where(p => p.Value.RequiresGrad).ToList();
        using var opt = new Sgd(trainable.Select(p => p.Value), lr: 0.05, momentum: 0.9);
        var saved = new Dictionary<string, Tensor>();
        long tokens = (Enc.ImageSize / Enc.PatchSize) * (Enc.ImageSize / Enc.PatchSize);
        for (int s = 0; s < steps; s++)
        {
            using var scope = Torch.NewDisposeScope();
            using var shared = new Generator(1000 + (ulong)s);
            var v1 = Tensor.Randn([global, 3, 16, 16], shared);
            var v2 = Tensor.Randn([global, 3, 16, 16], shared);
            opt.ZeroGrad();
            StepResult result;
            if (model is Can c)
            {
                var noise = Tensor.Rand([2 * global, tokens], shared);                  // [2N, L]
                var sigma = Tensor.Rand([2 * global], shared) * c.Config.SigmaMax;     // [2N]
                var eps = Tensor.Randn([2 * global, 3, 16, 16], shared);               // [2N, C, H, W]
                var given = new StepRandomness(Shard(noise, global, 2, rank, world), Shard(sigma, global, 2, rank, world), Shard(eps, global, 2, rank, world));
                result = c.Forward(Shard(v1, global, 1, rank, world), Shard(v2, global, 1, rank, world), null, given);
            }
            else
            {
                var m = (Cmae)model;
                var noise = Tensor.Rand([global, tokens], shared);                      // [N, L]
                result = m.Forward(Shard(v1, global, 1, rank, world), Shard(v2, global, 1, rank, world), null, new StepRandomness(Shard(noise, global, 1, rank, world)));
            }
            result.Loss.Backward();
            if (group is not null) DataParallel.AverageGradients(group, trainable.Select(p => p.Value));
            if (s == 0)
                foreach (var (name, p) in trainable)
                    if (p.Grad is { } gr) saved["grad." + name] = gr.Clone().DetachFromDisposeScope();
            opt.Step();
            if (model is Cmae cmae) cmae.UpdateTarget(s, steps);
            string same = group is null ? "n/a" : DataParallel.Identical(group, model.StateDict().Values).ToString();
            Console.WriteLine($"step {s + 1} loss {result.Terms.Total:F6} identical {same}");
            if (same == "False") return 3;
        }
        if (rank == 0)
        {
            foreach (var (k, v) in model.StateDict()) saved["model." + k] = v;
            SafeTensors.Save(outFile, saved, new Dictionary<string, string>());
        }
        group?.Barrier();
        return 0;
    }

    private static ImageSet Synthetic(int n, int size = 16)
    {
        var px = new byte[n * 3 * size * size];
        new Random(3).NextBytes(px);
        return new ImageSet("synthetic", px, Enumerable.Range(0, n).Select(i => i % 4).ToArray(), 3, size, size, ["a", "b", "c", "d"], Normalization.Cifar10);
    }

    private static MethodSpec Spec(string method) => method switch
    {
        "can" => new("can", MethodKind.Can, Can: new CanConfig { Decoder = Dec, ProjectionDim = 16 }),
        "cmae" => new("cmae", MethodKind.Cmae, Cmae: new CmaeConfig { PixelDecoder = Dec, ProjectionDim = 16, ProjectionHidden = 32 }),
        _ => throw new ArgumentException(method),
    };

    /// <summary>The Trainer data-parallel; after every step all ranks check that their states are bit-identical.</summary>
    public static int Train(string method, string runDir, int steps, int global, int dieRank, int dieStep)
    {
        using var group = Group();
        int rank = group?.Rank ?? 0;
        using var g = new Generator(7);
        using var m = Spec(method).Create(Enc, g);
        var config = new TrainConfig { BatchSize = global, Steps = steps, LearningRate = 1e-3, CheckpointEvery = 2, LogEvery = 1, Seed = 42, ClipNorm = 1.0 };
        var trainer = new Trainer(m, Synthetic(64), config, runDir, "fingerprint") { Group = group };
        var progress = new SyncProgress(p =>
        {
            string same = group is null ? "n/a" : DataParallel.Identical(group, m.Module.StateDict().Values).ToString();
            Console.WriteLine($"step {p.Step} loss {p.Loss:F6} identical {same}");
            if (same == "False") throw new InvalidOperationException($"ranks differ after step {p.Step}");
            if (rank == dieRank && p.Step == dieStep)
            {
                Console.WriteLine($"rank {rank} killing itself after step {p.Step}");
                Console.Out.Flush();
                Process.GetCurrentProcess().Kill();
            }
        });
        var outcome = trainer.Run(progress);
        Console.WriteLine($"outcome {outcome}");
        return 0;
    }

    /// <summary>CAN (ViT 128×4 on 32-px images, patch 4) through the Trainer; prints global images/s after two warm-up steps.</summary>
    public static int Bench(int steps, int global)
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("CANKIT_THREADS"), out int threads)) Torch.NumThreads = threads;
        using var group = Group();
        var enc = new VitConfig { ImageSize = 32, PatchSize = 4, InChannels = 3, Width = 128, Depth = 4, Heads = 4 };
        using var g = new Generator(7);
        using var m = new MethodSpec("can", MethodKind.Can, Can: CanConfig.Paper with { Decoder = new DecoderConfig { Width = 128, Depth = 2, Heads = 4 } }).Create(enc, g);
        string dir = Directory.CreateTempSubdirectory("cankit-bench-").FullName;
        try
        {
            var config = new TrainConfig { BatchSize = global, Steps = steps, CheckpointEvery = 1_000_000, LogEvery = 1, Seed = 1 };
            var times = new List<double>();
            var trainer = new Trainer(m, Synthetic(4 * global, 32), config, dir, "bench") { Group = group };
            trainer.Run(new SyncProgress(p => times.Add(p.ElapsedSeconds)));
            const int warm = 2;
            double ips = (steps - warm) * (double)global / (times[^1] - times[warm - 1]);
            if ((group?.Rank ?? 0) == 0) Console.WriteLine(FormattableString.Invariant($"throughput {ips:F1} img/s ({group?.WorldSize ?? 1} processes × {Torch.NumThreads} threads)"));
            return 0;
        }
        finally
        {
            if ((group?.Rank ?? 0) == 0) Directory.Delete(dir, recursive: true);
        }
    }

    public static int Scaling(int steps, int global)
    {
        var (file, prefix) = LocalLauncher.Self();
        var args = prefix.Concat(["bench", steps.ToString(), global.ToString()]).ToList();
        foreach (var (nproc, threads) in new[] { (1, 1), (1, 2), (2, 1) })
        {
            var env = new Dictionary<string, string> { ["CANKIT_THREADS"] = threads.ToString(), ["OMP_NUM_THREADS"] = threads.ToString(), ["OPENBLAS_NUM_THREADS"] = "1" };
            var r = LocalLauncher.Run(file, args, nproc, timeout: TimeSpan.FromMinutes(5), environment: env);
            string line = r.Outputs[0].Split('\n').FirstOrDefault(l => l.StartsWith("throughput")) ?? $"failed: {r.Failure} {r.Outputs[0]}";
            Console.WriteLine($"{nproc} process(es) × {threads} thread(s), global batch {global}: {line.Trim()}");
        }
        return 0;
    }
}

internal sealed class SyncProgress(Action<StepMetrics> a) : IProgress<StepMetrics>
{
    public void Report(StepMetrics value) => a(value);
}
