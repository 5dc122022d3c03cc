using CanKit.Data;
using CanKit.Distributed;
using CanKit.Evaluation;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Training;

/// <summary>
/// Pre-training into a run folder, and what the other jobs read back from one: its splits and its method with the
/// checkpoint's weights. Scoring a run is <see cref="RunEvaluation"/>, writing files from it <see cref="RunExport"/>.
/// </summary>
public static class PretrainRun
{
    /// <summary>
    /// Pre-trains (or resumes) the run described by <paramref name="spec"/> in <paramref name="runDir"/>.
    /// With a <paramref name="group"/> this process is one rank of a data-parallel run (docs/distributed.md): every
    /// rank calls this with the same spec and folder; rank 0 writes run.json, metrics and checkpoints.
    /// <paramref name="adjust"/> changes the training settings the spec gives (an ablation suite's schedule and kept checkpoints).
    /// <paramref name="monitorEvery"/> &gt; 0 measures the online kNN monitor (<see cref="KnnMonitor.FromTraining"/>) that often.
    /// <paramref name="tensorBoard"/> names a folder where rank 0 also writes the metrics lines as TensorBoard scalars
    /// (<see cref="TensorBoardLog"/>) and, at the end of a CAN run, its reconstruction grid.
    /// </summary>
    public static TrainOutcome Pretrain(RunSpec spec, string runDir, Device device, IProgress<StepMetrics>? progress = null,
                                        CancellationToken cancel = default, int checkpointEvery = 200, int logEvery = 10, ProcessGroup? group = null,
                                        Func<TrainConfig, TrainConfig>? adjust = null, int monitorEvery = 0, string? tensorBoard = null)
    {
        if (monitorEvery < 0) throw new ArgumentOutOfRangeException(nameof(monitorEvery), monitorEvery, "must be ≥ 0 (0: no monitor)");
        // Everything is checked before anything is written: a refused run leaves no run.json behind that would
        // make the corrected command fail as "a different run".
        spec.Validate();
        spec.ValidateFor(device);
        if (group is not null) spec.ValidateFor(group.WorldSize);
        var config = spec.TrainConfig(device, checkpointEvery, logEvery);
        config = (adjust is null ? config : adjust(config)).Validate();
        if (File.Exists(runDir)) throw new IOException($"{runDir}: is a file; the run folder must be a folder");
        if (tensorBoard is not null) TensorBoardLog.Check(tensorBoard, config.Steps);
        var train = LoadTrain(spec);
        spec.ValidateFor(train);
        string runJson = Path.Combine(runDir, "run.json");
        if (File.Exists(runJson) && RunSpec.Load(runDir) != spec)
            throw new InvalidDataException($"{runDir} holds a different run ({runJson}); use another --out folder or delete it");
        using var g = new Generator(spec.Seed);
        using var method = spec.MethodSpec().Create(spec.Encoder(train), g);
        bool rank0 = (group?.Rank ?? 0) == 0;
        if (rank0) spec.Save(runDir);
        var monitor = monitorEvery > 0 ? KnnMonitor.FromTraining(train) : null;
        var board = tensorBoard is not null && rank0 ? new TensorBoardLog(tensorBoard) : null;
        var trainer = new Trainer(method, train, config, runDir, spec.ToJson())
        {
            Group = group,
            Monitor = monitor is null ? null : () => monitor.Measure(method.Encoder, device),
            MonitorEvery = Math.Max(1, monitorEvery),
            TensorBoard = board,
        };
        var outcome = trainer.Run(progress, cancel);
        if (board is not null && outcome == TrainOutcome.Completed && method.Module is Can) board.AddReconstructions(runDir, config.Steps);
        return outcome;
    }

    /// <summary>
    /// Steps that fit in <paramref name="minutes"/>: times a few training steps of a throw-away copy of the
    /// run's model on real batches and divides. The result is stored in run.json, so a resumed run keeps it.
    /// </summary>
    public static long StepsForMinutes(RunSpec spec, Device device, double minutes, int probeSteps = 3)
    {
        if (!(minutes > 0) || !double.IsFinite(minutes)) throw new ArgumentOutOfRangeException(nameof(minutes), minutes, "must be a finite number > 0");
        var train = LoadTrain(spec);
        using var init = new Generator(spec.Seed + 12345);
        using var method = spec.MethodSpec().Create(spec.Encoder(train), init);
        method.Module.to(device);
        using var g = new Generator(spec.Seed + 12345, device);
        using var opt = new AdamW(method.Module.parameters().Where(p => p.requires_grad).ToList(), lr: 1e-9);
        using var loader = new BatchLoader(train, spec.BatchSize, spec.Seed, new DataPosition(0, 0));
        double seconds = 0;
        for (int i = 0; i <= probeSteps; i++)
        {
            var (raw, _) = loader.Next();
            using var scope = NewDisposeScope();
            using var _ = raw;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            opt.zero_grad();
            var r = method.Step(raw.to(device), train.Normalization, g);
            r.Loss.backward();
            opt.step();
            if (i > 0) seconds += clock.Elapsed.TotalSeconds;   // the first step warms up
        }
        return StepsFor(minutes * 60 / (seconds / probeSteps), nameof(minutes));
    }

    /// <summary>Steps for <paramref name="epochs"/> passes over the run's training images.</summary>
    public static long StepsForEpochs(RunSpec spec, double epochs)
    {
        if (!(epochs > 0) || !double.IsFinite(epochs)) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "must be a finite number > 0");
        return StepsFor(epochs * LoadTrain(spec).Count / spec.BatchSize, nameof(epochs));
    }

    // A step count from a measured or computed length: at least 1, and refused when it is beyond any run (a cast of a
    // huge double to long would wrap).
    private static long StepsFor(double steps, string param)
    {
        const double max = 1e12;
        if (!(steps <= max)) throw new ArgumentOutOfRangeException(param, FormattableString.Invariant($"gives {steps:G3} steps, more than 1e12"));
        return Math.Max(1, (long)steps);
    }

    public static ImageSet LoadTrain(RunSpec spec)
    {
        var set = Datasets.Load(spec.Dataset, spec.DataRoot, train: true);
        if (spec.Holdout > 0) set = set.Take(set.Count - CheckHoldout(spec, set));
        return spec.TrainSubset > 0 ? set.Take(spec.TrainSubset) : set;
    }

    /// <summary>
    /// The run's training images and the images it is scored on: the test split, or with <see cref="RunSpec.Holdout"/> the
    /// last images of the training split, which pre-training then never sees (a validation split for choosing recipes).
    /// </summary>
    public static (ImageSet Train, ImageSet Eval) Splits(RunSpec spec)
    {
        var train = Datasets.Load(spec.Dataset, spec.DataRoot, train: true);
        if (spec.Holdout == 0) return (train, Datasets.Load(spec.Dataset, spec.DataRoot, train: false));
        int keep = train.Count - CheckHoldout(spec, train);
        return (train.Take(keep), train.Skip(keep));
    }

    private static int CheckHoldout(RunSpec spec, ImageSet train) => spec.Holdout < train.Count ? spec.Holdout
        : throw new ArgumentOutOfRangeException(nameof(spec.Holdout), spec.Holdout, $"holds out all {train.Count} training images of {train.Name}");

    /// <summary>The run's method with the checkpoint's weights (or freshly initialised when <paramref name="randomInit"/>).</summary>
    public static IPretrainMethod LoadMethod(string runDir, bool randomInit = false)
    {
        var spec = RunSpec.Load(runDir);
        return LoadMethod(runDir, spec, Datasets.Load(spec.Dataset, spec.DataRoot, train: false), randomInit);
    }

    // The method for images shaped like <paramref name="data"/>'s (the caller has loaded them already).
    internal static IPretrainMethod LoadMethod(string runDir, RunSpec spec, ImageSet data, bool randomInit)
    {
        using var g = new Generator(spec.Seed);
        var method = spec.MethodSpec().Create(spec.Encoder(data), g);
        if (randomInit) return method;
        string ckpt = Path.Combine(runDir, Trainer.CheckpointFile);
        if (!File.Exists(ckpt)) throw new FileNotFoundException($"{runDir} has no checkpoint yet; run `cankit pretrain --out {runDir}` first", ckpt);
        try
        {
            using var state = SafeTensors.Load(ckpt);
            Checkpoint.LoadModel(method.Module, state.Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value), ckpt);
            // A run that diverged leaves NaN/inf weights; their features would score by chance and export silently.
            if (Checkpoint.NonFiniteParameter(method.Module) is { } name)
                throw new InvalidDataException($"{ckpt}: parameter 'model.{name}' holds NaN or infinite values (the run diverged); " +
                                               "retrain or use an earlier checkpoint");
        }
        catch
        {
            method.Dispose();
            throw;
        }
        return method;
    }

    /// <summary>The run's spec, its method on <paramref name="device"/>, and its train/test splits (optionally cut to a subset).</summary>
    internal static (RunSpec Spec, IPretrainMethod Method, ImageSet Train, ImageSet Test) Prepare(string runDir, Device device, bool randomInit, int evalSubset)
    {
        var spec = RunSpec.Load(runDir);
        var (train, test) = Splits(spec);
        if (evalSubset > 0) (train, test) = (train.Take(evalSubset), test.Take(Math.Max(1, evalSubset / 6)));
        var method = LoadMethod(runDir, spec, test, randomInit);
        method.Module.to(device);
        return (spec, method, train, test);
    }

}
