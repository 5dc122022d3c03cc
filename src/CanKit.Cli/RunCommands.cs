using System.CommandLine;
using CanKit.Distributed;
using CanKit.Training;

namespace CanKit.Cli;

/// <summary>`cankit pretrain | probe | knn | export`: one run folder from pre-training to evaluation.</summary>
internal static partial class RunCommands
{
    private static Option<string> Out(bool required) =>
        new Option<string>("--out")
        {
            Description = "run folder (run.json, checkpoint, metrics)",
            Required = required,
            DefaultValueFactory = required ? null! : _ => "runs/can-fashion-mnist",
        }.NotAFile();

    /// <summary>The flag of each <see cref="RunSpec"/> field and of the library arguments the run commands pass on.</summary>
    internal static readonly IReadOnlyDictionary<string, string> Flags = new Dictionary<string, string>
    {
        [nameof(RunSpec.Method)] = "--method", [nameof(RunSpec.Preset)] = "--preset", [nameof(RunSpec.Dataset)] = "--data",
        [nameof(RunSpec.DataRoot)] = "--data-root", [nameof(RunSpec.Width)] = "--width", [nameof(RunSpec.Depth)] = "--depth",
        [nameof(RunSpec.Heads)] = "--heads", [nameof(RunSpec.PatchSize)] = "--patch", [nameof(RunSpec.BatchSize)] = "--batch",
        [nameof(RunSpec.Steps)] = "--steps", [nameof(RunSpec.LearningRate)] = "--lr", [nameof(RunSpec.TrainSubset)] = "--train-subset",
        [RunSpec.PrecisionField] = "--precision", ["minutes"] = "--minutes", ["epochs"] = "--epochs", ["probeEpochs"] = "--epochs",
        ["k"] = "--k", ["temperature"] = "--temperature", ["evalSubset"] = "--subset", ["lastBlocks"] = "--blocks",
        [nameof(RunSpec.Holdout)] = "--holdout", ["monitorEvery"] = "--monitor-every", [nameof(RunSpec.Seed)] = "--seed",
        [nameof(RunSpec.WeightDecay)] = "--weight-decay", [nameof(RunSpec.ClipNorm)] = "--clip-norm",
        ["Can.MaskRatio"] = "--mask-ratio", ["Can.SigmaMax"] = "--sigma-max", ["Can.Temperature"] = "--tau",
        ["Can.CropMin"] = "--crop-min", ["Can.BlurP"] = "--blur", ["Can.JitterP"] = "--jitter",
        ["Can.ContrastiveWeight"] = "--weights", ["Can.ReconstructionWeight"] = "--weights", ["Can.DenoiseWeight"] = "--weights",
        [nameof(NodeLayout.ProcessesPerNode)] = "--nproc", [nameof(NodeLayout.Nodes)] = "--nnodes", [nameof(NodeLayout.NodeRank)] = "--node-rank",
        [nameof(NodeLayout.MasterAddress)] = "--master-addr", [nameof(NodeLayout.MasterPort)] = "--master-port",
    };

    private static string FlagOf(string field) => Flags.TryGetValue(field, out var f) ? f : field;
    internal static Option<string> PrecisionOpt() => new("--precision")
    {
        Description = "auto, fp32 or bf16: bf16 matrix products with float32 weights, norms and losses (docs/performance.md); " +
                      "auto is bf16 on CUDA and on CPUs with avx512_bf16 or AMX, fp32 elsewhere, and a resumed run's own",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>
    /// The precision of <c>--precision</c> on <paramref name="device"/>. <c>auto</c> keeps the precision of a run that
    /// <paramref name="runDir"/> already holds, so resuming never changes the arithmetic half-way.
    /// </summary>
    internal static Vision.Precision ResolvePrecision(string flag, Device device, string runDir)
    {
        try { return RunSpec.PrecisionFor(flag, device, runDir); }
        catch (ArgumentException e) { throw new ArgumentException($"--precision: {e.Message}"); }
    }

    private static Option<string> DeviceOpt() => new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    public static Command Pretrain()
    {
        var method = new Option<string>("--method")
        {
            Description = "can, cmae, mae, simclr or an ablation name (cankit ablate --list)",
            DefaultValueFactory = _ => "can",
        };
        var data = new Option<string>("--data")
        {
            Description = "fashion-mnist, cifar10, cifar100, or folder-<side> " +
                          "(an image folder with train/ and val/ at <side> px, e.g. folder-224)",
            DefaultValueFactory = _ => "fashion-mnist",
        };
        var root = new Option<string?>("--data-root")
        {
            Description = "dataset folder (default for fashion-mnist: $CANKIT_DATA, the per-user data folder, then Debian's; docs/data.md)",
        };
        var preset = new Option<string>("--preset") { Description = "CAN preset: paper, official or community", DefaultValueFactory = _ => "paper" };
        var steps = new Option<long>("--steps") { Description = "optimiser steps", DefaultValueFactory = _ => 1000 };
        var epochs = new Option<double?>("--epochs") { Description = "train for this many epochs instead of --steps" }.PositiveFinite();
        var minutes = new Option<double?>("--minutes")
        {
            Description = "train for about this many minutes instead of --steps (steps are measured, then fixed in run.json)",
        }.PositiveFinite();
        var batch = new Option<int>("--batch") { Description = "images per step", DefaultValueFactory = _ => 128 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 1e-3 };
        var width = new Option<int>("--width") { Description = "encoder width", DefaultValueFactory = _ => 128 };
        var depth = new Option<int>("--depth") { Description = "encoder blocks", DefaultValueFactory = _ => 4 };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => 4 };
        var patch = new Option<int>("--patch") { Description = "patch size", DefaultValueFactory = _ => 4 };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var subset = new Option<int>("--train-subset") { Description = "use only the first N training images (0: all)", DefaultValueFactory = _ => 0 };
        var precision = PrecisionOpt();
        var can = CanFlags.Create();
        var config = new RunConfigFlags();
        var holdout = new Option<int>("--holdout")
        {
            Description = "hold the last N training images out as a validation split: never trained on; " +
                          "probe and knn score on them instead of the test split (0: none)",
            DefaultValueFactory = _ => 0,
        }.AtLeast(0);
        var monitor = MonitorOpt();
        var board = TensorBoardOpt("the run's losses, learning rate, images/s, monitor and (CAN) reconstruction grid");
        var nproc = new Option<int>("--nproc")
        {
            Description = "data-parallel worker processes on this machine (Linux, CPU; docs/distributed.md)",
            DefaultValueFactory = _ => 1,
        };
        var nnodes = new Option<int>("--nnodes")
        {
            Description = "machines taking part (each runs this command with its --node-rank)",
            DefaultValueFactory = _ => 1,
        };
        var nodeRank = new Option<int>("--node-rank") { Description = "this machine's index in [0, --nnodes)", DefaultValueFactory = _ => 0 };
        var masterAddr = new Option<string>("--master-addr")
        {
            Description = "address of node 0, where rank 0 hosts the rendezvous",
            DefaultValueFactory = _ => "127.0.0.1",
        };
        var masterPort = new Option<int>("--master-port")
        {
            Description = "rendezvous port on node 0 (0: a free one; needed with --nnodes > 1)",
            DefaultValueFactory = _ => 0,
        };
        var device = DeviceOpt();
        var outDir = Out(required: false);
        var cmd = new Command("pretrain", "pre-train an encoder with a self-supervised method (resumes from the run folder's checkpoint)")
        {
            method, data, root, preset, steps, epochs, minutes, batch, lr, width, depth, heads, patch, seed, subset, precision, holdout,
            monitor, board, nproc, nnodes, nodeRank, masterAddr, masterPort, device, outDir,
        };
        foreach (var o in can.All.Concat(config.All)) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var dev = Cli.ParseDevice(r.GetValue(device)!);
            string outPath = r.GetValue(outDir)!;
            var spec = new RunSpec(r.GetValue(method)!, r.GetValue(preset)!, r.GetValue(data)!, r.GetValue(root), r.GetValue(width), r.GetValue(depth),
                r.GetValue(heads), r.GetValue(patch), r.GetValue(batch), r.GetValue(steps), r.GetValue(lr), r.GetValue(config.WeightDecay),
                r.GetValue(config.ClipNorm), r.GetValue(seed), r.GetValue(subset),
                Precision: ResolvePrecision(r.GetValue(precision)!, dev, outPath), Can: can.Read(r), Holdout: r.GetValue(holdout));
            spec = config.Build(r, cmd, spec, Flags, FlagOf);
            Validate(spec);
            var layout = new NodeLayout(r.GetValue(nproc), r.GetValue(nnodes), r.GetValue(nodeRank), r.GetValue(masterAddr)!,
                                        r.GetValue(masterPort)).Validate(FlagOf);
            bool worker = ProcessGroup.InEnvironment();
            if (worker && layout.WorldSize > 1)
                throw new ArgumentException($"--nproc/--nnodes: this process is already rank {Environment.GetEnvironmentVariable("RANK")} " +
                                            $"of WORLD_SIZE={Environment.GetEnvironmentVariable("WORLD_SIZE")} (set by a launcher); " +
                                            $"drop the launcher flags");
            int world = worker
                ? int.Parse(Environment.GetEnvironmentVariable("WORLD_SIZE")!, System.Globalization.CultureInfo.InvariantCulture)
                : layout.WorldSize;
            spec.ValidateFor(dev, FlagOf);
            if (r.GetValue(epochs) is not null && r.GetValue(minutes) is not null)
                throw new ArgumentException("--epochs and --minutes: give one of them");
            if (world > 1)
            {
                spec.ValidateFor(world, FlagOf);
                if (dev.type != DeviceType.CPU)
                    throw new ArgumentException($"--device {r.GetValue(device)}: data-parallel training runs on the CPU (Gloo); " +
                                                $"NCCL for CUDA is not built");
                if (r.GetValue(minutes) is not null)
                    throw new ArgumentException("--minutes: not with several processes (each would measure its own step count); " +
                                                "give --steps or --epochs");
                if (ProcessGroup.Unavailable() is { } why) throw new NotSupportedException($"{(worker ? $"WORLD_SIZE={world}" : "--nproc")}: {why}");
                if (!worker) return DistributedLaunch.Launch(layout);
            }
            if (File.Exists(Path.Combine(outPath, "run.json")) && (r.GetValue(minutes) is not null || r.GetValue(epochs) is not null))
                spec = spec with { Steps = RunSpec.Load(outPath).Steps };   // resuming: keep the measured length
            else if (r.GetValue(minutes) is { } m)
            {
                Console.WriteLine($"measuring the step time to fit {m} minutes…");
                spec = spec with { Steps = PretrainRun.StepsForMinutes(spec, dev, m) };
            }
            else if (r.GetValue(epochs) is { } e)
                spec = spec with { Steps = PretrainRun.StepsForEpochs(spec, e) };
            if (!worker) return Pretrain(spec, r.GetValue(outDir)!, dev, monitorEvery: r.GetValue(monitor), tensorBoard: r.GetValue(board));
            using var group = ProcessGroup.FromEnvironment();
            return Pretrain(spec, r.GetValue(outDir)!, dev, group, r.GetValue(monitor), r.GetValue(board));
        }, Flags));
        return cmd;
    }

    /// <summary>Rejects bad flag values before any data is loaded, naming the flag (the rules are run.json's, see <see cref="RunSpec.Validate"/>).</summary>
    internal static void Validate(RunSpec spec)
    {
        spec.Validate(FlagOf);
        if (spec.DataRoot is { } root && !Directory.Exists(root)) throw new ArgumentException($"--data-root: folder '{root}' does not exist");
    }

    internal static Option<int> MonitorOpt(int every = 0) => new Option<int>("--monitor-every")
    {
        Description = "measure the online kNN monitor (20-NN of 1000 training images against 5000 others) every N steps and at the end (0: off)",
        DefaultValueFactory = _ => every,
    }.AtLeast(0);

    /// <summary>A folder for TensorBoard event files of <paramref name="what"/>; it may not exist yet, but it may not be a file.</summary>
    internal static Option<string> TensorBoardOpt(string what) => new Option<string>("--tensorboard")
    {
        Description = $"also write {what} as TensorBoard event files in this folder (view them with tensorboard --logdir DIR)",
        HelpName = "DIR",
    }.NotAFile();

    internal static int Pretrain(RunSpec spec, string outDir, Device device, ProcessGroup? group = null, int monitorEvery = 0,
                                 string? tensorBoard = null)
    {
        // Rank 0 speaks for a data-parallel group; the other ranks train silently (the launcher prefixes their errors).
        bool speaks = (group?.Rank ?? 0) == 0;
        string ranks = group is null ? "" : $" × {group.WorldSize} processes";
        if (speaks)
            Console.WriteLine($"pretraining {spec.Method} on {spec.Dataset}: {spec.Steps} steps × {spec.BatchSize} images, " +
                              $"ViT {spec.Width}×{spec.Depth}, patch {spec.PatchSize}, {Cli.DeviceName(device)}, " +
                              $"{torch.get_num_threads()} threads{ranks} → {outDir}");
        if (speaks && monitorEvery > 0)
        {
            var monitor = Evaluation.KnnMonitor.FromTraining(PretrainRun.LoadTrain(spec));
            Console.WriteLine($"online kNN monitor every {monitorEvery} steps: 20-NN of {monitor.QuerySize} training images against " +
                              $"{monitor.BankSize} others; raw pixels score {monitor.PixelTop1():P1} there");
        }
        if (speaks && tensorBoard is not null)
            Console.WriteLine($"TensorBoard event files → {tensorBoard} (tensorboard --logdir {tensorBoard})");
        return Cli.UntilCtrlC(speaks ? "interrupt: saving a checkpoint after this step (Ctrl-C again to abort)" : null, cancel =>
        {
            var progress = new ConsoleProgress(spec.Steps, spec.Method);
            var outcome = speaks
                ? progress.Run(p => PretrainRun.Pretrain(spec, outDir, device, p, cancel, checkpointEvery: 100, logEvery: 10, group,
                                                         monitorEvery: monitorEvery, tensorBoard: tensorBoard))
                : PretrainRun.Pretrain(spec, outDir, device, null, cancel, checkpointEvery: 100, logEvery: 10, group,
                                       tensorBoard: tensorBoard);
            if (speaks)
                Console.WriteLine(outcome == TrainOutcome.Completed
                    ? $"done: {Path.Combine(outDir, Trainer.CheckpointFile)}"
                    : $"interrupted: resume with the same command");
            return outcome == TrainOutcome.Completed ? 0 : 130;
        });
    }
}
