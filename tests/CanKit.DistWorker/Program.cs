using System.Diagnostics;
using System.Globalization;
using CanKit.Data;
using CanKit.Distributed;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Objectives;
using CanKit.Sampling;
using CanKit.Training;
using CanKit.Vision;

// One rank of a multi-process test; the group comes from MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE (none: one process).
//   equiv <can|cmae> <steps> <globalBatch> <out.safetensors>   method steps + SGD; rank 0 writes step-1 gradients and the final state
//   gather <globalRows> <out>                                   InfoNCE with global negatives; each rank writes its rows' gradients to <out>.rank<r>
//   train <can|cmae> <runDir> <steps> <globalBatch> <dieRank> <dieStep> [fingerprint-per-rank]
//                                                               the Trainer; rank dieRank kills itself after step dieStep; each rank its own configuration
try
{
    return args[0] switch
    {
        "equiv" => Worker.Equivalence(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture), args[4]),
        "gather" => Worker.Gather(int.Parse(args[1], CultureInfo.InvariantCulture), args[2]),
        "train" => Worker.Train(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture),
                                int.Parse(args[5], CultureInfo.InvariantCulture), int.Parse(args[6], CultureInfo.InvariantCulture),
                                args.Length > 7 && args[7] == "fingerprint-per-rank"),
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

    private static ProcessGroup? Group() => ProcessGroup.InEnvironment() ? ProcessGroup.FromEnvironment() : null;

    private static MethodSpec Spec(string method) => method switch
    {
        "can" => new("can", MethodKind.Can, Can: new CanConfig { Decoder = Dec, ProjectionDim = 16 }),
        "cmae" => new("cmae", MethodKind.Cmae, Cmae: new CmaeConfig { PixelDecoder = Dec, ProjectionDim = 16, ProjectionHidden = 32 }),
        _ => throw new ArgumentException(method),
    };

    private static ImageSet Synthetic(int n)
    {
        var px = new byte[n * 3 * 16 * 16];
        new Random(3).NextBytes(px);
        return new ImageSet("synthetic", px, Enumerable.Range(0, n).Select(i => i % 4).ToArray(), 3, 16, 16, ["a", "b", "c", "d"], Normalization.Cifar10);
    }

    /// <summary>
    /// The method's own step (views, masks and noise from one generator, sharded by <see cref="SeededDraws"/>) with SGD
    /// and momentum: W processes × B/W must give what 1 process × B gives. SGD, not AdamW: AdamW's first update is
    /// about ±lr wherever a gradient is nonzero, so a gradient of 1e-9 that is −1e-9 in another summation order would
    /// flip it; SGD's update is linear in the gradient, so reduction-order differences stay as small as they are.
    /// </summary>
    public static int Equivalence(string method, int steps, int global, string outFile)
    {
        using var group = Group();
        int rank = group?.Rank ?? 0, world = group?.WorldSize ?? 1;
        using var m = Spec(method).Create(Enc, new Generator(7));
        var module = m.Module;
        if (group is not null)
        {
            DataParallel.BroadcastState(group, module);
            ((IGlobalNegatives)module).NegativesGroup = group;
        }
        var trainable = module.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        using var opt = optim.SGD(trainable.Select(p => p.parameter), 0.05, momentum: 0.9);
        using var gen = new Generator(1234);
        using var loader = new BatchLoader(Synthetic(4 * global), global, 5, new DataPosition(0, 0), rank: rank, worldSize: world);
        var saved = new Dictionary<string, Tensor>();
        for (int s = 0; s < steps; s++)
        {
            var (raw, _) = loader.Next();
            using var scope = NewDisposeScope();
            using var _ = raw;
            using (group is null ? null : SeededDraws.Enter(rank, world, global / world))
            {
                opt.zero_grad();
                var result = m.Step(raw, Normalization.Cifar10, gen);
                result.Loss.backward();
            }
            if (group is not null) DataParallel.AverageGradients(group, trainable.Select(p => p.parameter).ToList());
            if (s == 0)
                foreach (var (name, p) in trainable)
                    if (p.grad is { } gr) saved["grad." + name] = gr.clone().DetachFromDisposeScope();
            opt.step();
            m.AfterOptimizerStep(s, steps);
            string same = group is null ? "n/a" : DataParallel.Identical(group, module.state_dict().Values).ToString();
            Console.WriteLine($"step {s + 1} identical {same}");
            if (same == "False") return 3;
        }
        if (rank == 0)
        {
            foreach (var (k, v) in module.state_dict()) saved["model." + k] = v;
            SafeTensors.Save(outFile, saved);
        }
        group?.Barrier();
        return 0;
    }

    /// <summary>
    /// Rows [r·n, (r+1)·n) of two seeded global embedding sets [G, 8]; InfoNCE with the global negatives; each rank
    /// writes the gradient of its rows (scaled by W: rank losses are means over 2n anchors, the global loss over 2G).
    /// </summary>
    public static int Gather(int globalRows, string outFile)
    {
        using var group = Group();
        int rank = group?.Rank ?? 0, world = group?.WorldSize ?? 1;
        int n = globalRows / world;
        using var g = new Generator(11);
        using var z1All = randn([globalRows, 8], generator: g);
        using var z2All = randn([globalRows, 8], generator: g);
        using var z1 = z1All.narrow(0, rank * n, n).clone().requires_grad_();
        using var z2 = z2All.narrow(0, rank * n, n).clone().requires_grad_();
        using var con = InfoNceLoss.Compute(z1, z2, 0.1, group);
        con.Loss.backward();
        using var g1 = z1.grad!.div(world);
        using var g2 = z2.grad!.div(world);
        using var loss = con.Loss.detach().clone();
        if (group is not null) group.AllReduceSum(loss);
        using var meanLoss = loss.div(world);
        SafeTensors.Save($"{outFile}.rank{rank}", new Dictionary<string, Tensor> { ["z1.grad"] = g1, ["z2.grad"] = g2, ["loss"] = meanLoss });
        return 0;
    }

    /// <summary>The Trainer data-parallel; after every step all ranks check that their states are bit-identical.</summary>
    public static int Train(string method, string runDir, int steps, int global, int dieRank, int dieStep, bool fingerprintPerRank = false)
    {
        using var group = Group();
        int rank = group?.Rank ?? 0;
        using var m = Spec(method).Create(Enc, new Generator(7));
        var config = new TrainConfig { BatchSize = global, Steps = steps, LearningRate = 1e-3, CheckpointEvery = 2, LogEvery = 1, Seed = 42, ClipNorm = 1.0 };
        var trainer = new Trainer(m, Synthetic(64), config, runDir, fingerprintPerRank ? $"fingerprint of rank {rank}" : "fingerprint") { Group = group };
        var progress = new SyncProgress(p =>
        {
            string same = group is null ? "n/a" : DataParallel.Identical(group, m.Module.state_dict().Values).ToString();
            Console.WriteLine(FormattableString.Invariant($"step {p.Step} loss {p.Loss:F6} identical {same}"));
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
}

internal sealed class SyncProgress(Action<StepMetrics> a) : IProgress<StepMetrics>
{
    public void Report(StepMetrics value) => a(value);
}
