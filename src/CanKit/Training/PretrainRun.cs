using CanKit.Data;
using CanKit.Distributed;
using CanKit.Evaluation;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Training;

/// <summary>Linear-probe and kNN top-1 of one encoder.</summary>
public sealed record EvalResult(string Encoder, double ProbeTop1, double KnnTop1, int Dim);

/// <summary>The supervised reference: probe and kNN of its frozen features, its own head's top-1, and its steps.</summary>
public sealed record SupervisedResult(EvalResult Frozen, double HeadTop1, long Steps);

/// <summary>The workflows behind the command line: pretrain into a run folder, evaluate a run, export its encoder.</summary>
public static class PretrainRun
{
    /// <summary>
    /// Pre-trains (or resumes) the run described by <paramref name="spec"/> in <paramref name="runDir"/>.
    /// With a <paramref name="group"/> this process is one rank of a data-parallel run (docs/distributed.md): every
    /// rank calls this with the same spec and folder; rank 0 writes run.json, metrics and checkpoints.
    /// <paramref name="adjust"/> changes the training settings the spec gives (an ablation suite's schedule and kept checkpoints).
    /// <paramref name="monitorEvery"/> &gt; 0 measures the online kNN monitor (<see cref="KnnMonitor.FromTraining"/>) that often.
    /// </summary>
    public static TrainOutcome Pretrain(RunSpec spec, string runDir, Device device, IProgress<StepMetrics>? progress = null,
                                        CancellationToken cancel = default, int checkpointEvery = 200, int logEvery = 10, ProcessGroup? group = null,
                                        Func<TrainConfig, TrainConfig>? adjust = null, int monitorEvery = 0)
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
        var train = LoadTrain(spec);
        spec.ValidateFor(train);
        string runJson = Path.Combine(runDir, "run.json");
        if (File.Exists(runJson) && RunSpec.Load(runDir) != spec)
            throw new InvalidDataException($"{runDir} holds a different run ({runJson}); use another --out folder or delete it");
        using var g = new Generator(spec.Seed);
        using var method = spec.MethodSpec().Create(spec.Encoder(train), g);
        if ((group?.Rank ?? 0) == 0) spec.Save(runDir);
        var monitor = monitorEvery > 0 ? KnnMonitor.FromTraining(train) : null;
        var trainer = new Trainer(method, train, config, runDir, spec.ToJson())
        {
            Group = group,
            Monitor = monitor is null ? null : () => monitor.Measure(method.Encoder, device),
            MonitorEvery = Math.Max(1, monitorEvery),
        };
        return trainer.Run(progress, cancel);
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
    private static IPretrainMethod LoadMethod(string runDir, RunSpec spec, ImageSet data, bool randomInit)
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
                throw new InvalidDataException($"{ckpt}: parameter 'model.{name}' holds NaN or infinite values (the run diverged); retrain or use an earlier checkpoint");
        }
        catch
        {
            method.Dispose();
            throw;
        }
        return method;
    }

    /// <summary>The run's spec, its method on <paramref name="device"/>, and its train/test splits (optionally cut to a subset).</summary>
    private static (RunSpec Spec, IPretrainMethod Method, ImageSet Train, ImageSet Test) Prepare(string runDir, Device device, bool randomInit, int evalSubset)
    {
        var spec = RunSpec.Load(runDir);
        var (train, test) = Splits(spec);
        if (evalSubset > 0) (train, test) = (train.Take(evalSubset), test.Take(Math.Max(1, evalSubset / 6)));
        var method = LoadMethod(runDir, spec, test, randomInit);
        method.Module.to(device);
        return (spec, method, train, test);
    }

    /// <summary>Linear probe and kNN of the run's encoder (or of the same encoder at random initialisation).</summary>
    /// <remarks><paramref name="lastBlocks"/>: see <see cref="Features.Extract"/> (1: the mean of the last block's patch tokens).</remarks>
    public static EvalResult Evaluate(string runDir, Device device, bool randomInit = false, int k = 20, double temperature = 0.07, int probeEpochs = 30,
                                      IProgress<string>? log = null, int evalSubset = 0, int lastBlocks = 1)
    {
        CheckScoreArguments(k, temperature, probeEpochs);
        if (evalSubset < 0) throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, "must be ≥ 0 (0: all images)");
        var (spec, method, train, test) = Prepare(runDir, device, randomInit, evalSubset);
        using var _ = method;
        string which = randomInit ? "random-init" : "pretrained";
        string stamp = randomInit ? $"seed{spec.Seed}" : File.GetLastWriteTimeUtc(Path.Combine(runDir, Trainer.CheckpointFile)).Ticks.ToString();
        log?.Report($"extracting {which} features ({train.Count} train, {test.Count} test)");
        string blocks = lastBlocks == 1 ? "" : $"-last{lastBlocks}";
        var (xtr, ytr) = Features.Cached(Path.Combine(runDir, $"features-{which}{blocks}-train.safetensors"), $"{stamp}/{train.Count}",
                                         () => Features.Extract(method.Encoder, train, device, lastBlocks: lastBlocks));
        var (xte, yte) = Features.Cached(Path.Combine(runDir, $"features-{which}{blocks}-test.safetensors"), $"{stamp}/{test.Count}",
                                         () => Features.Extract(method.Encoder, test, device, lastBlocks: lastBlocks));
        using (xtr) using (ytr) using (xte) using (yte)
            return Score(which, runDir, (xtr, ytr), (xte, yte), train.ClassNames.Count, k, temperature, probeEpochs, spec.Seed, log);
    }

    /// <summary>
    /// Linear probe and kNN of the raw pixels of the run's splits (the test split, or its held-out validation images): the
    /// same protocol as <see cref="Evaluate"/>, with the pixels as the encoder. The row any pre-trained encoder must beat.
    /// </summary>
    public static EvalResult EvaluatePixels(string runDir, int k = 20, double temperature = 0.07, int probeEpochs = 30, IProgress<string>? log = null, int evalSubset = 0)
        => EvaluatePixels(RunSpec.Load(runDir), k, temperature, probeEpochs, log, evalSubset);

    /// <inheritdoc cref="EvaluatePixels(string, int, double, int, IProgress{string}?, int)"/>
    public static EvalResult EvaluatePixels(RunSpec spec, int k = 20, double temperature = 0.07, int probeEpochs = 30, IProgress<string>? log = null, int evalSubset = 0)
    {
        CheckScoreArguments(k, temperature, probeEpochs);
        if (evalSubset < 0) throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, "must be ≥ 0 (0: all images)");
        var (train, test) = Splits(spec);
        if (evalSubset > 0) (train, test) = (train.Take(evalSubset), test.Take(Math.Max(1, evalSubset / 6)));
        log?.Report($"raw pixels as features ({train.Count} train, {test.Count} {(spec.Holdout > 0 ? "held-out" : "test")})");
        return EvaluatePixels(train, test, k, temperature, probeEpochs, spec.Seed, log);
    }

    /// <summary>The raw-pixel row for any two sets: the probe and kNN of <see cref="Features.Pixels"/> of <paramref name="train"/> and <paramref name="test"/>.</summary>
    public static EvalResult EvaluatePixels(ImageSet train, ImageSet test, int k = 20, double temperature = 0.07, int probeEpochs = 30, ulong seed = 0,
                                            IProgress<string>? log = null)
    {
        CheckScoreArguments(k, temperature, probeEpochs);
        var (xtr, ytr) = Features.Pixels(train);
        var (xte, yte) = Features.Pixels(test);
        using (xtr) using (ytr) using (xte) using (yte)
            return Score("pixels", train.Name, (xtr, ytr), (xte, yte), train.ClassNames.Count, k, temperature, probeEpochs, seed, log);
    }

    /// <summary>
    /// Linear probe and kNN of <paramref name="encoder"/>'s frozen features (<see cref="Features.Extract"/>, not cached) of
    /// <paramref name="train"/> and <paramref name="test"/>: the scores of <see cref="Evaluate"/> for an encoder that has no
    /// run folder, such as one of a <see cref="PretrainedModel"/>. <paramref name="name"/> labels the result and the errors.
    /// </summary>
    public static EvalResult EvaluateEncoder(VisionTransformer encoder, ImageSet train, ImageSet test, Device device, string name = "encoder", int k = 20,
                                             double temperature = 0.07, int probeEpochs = 30, ulong seed = 0)
    {
        CheckScoreArguments(k, temperature, probeEpochs);
        var (xtr, ytr) = Features.Extract(encoder, train, device);
        var (xte, yte) = Features.Extract(encoder, test, device);
        using (xtr) using (ytr) using (xte) using (yte)
            return Score(name, name, (xtr, ytr), (xte, yte), train.ClassNames.Count, k, temperature, probeEpochs, seed, null);
    }

    private static void CheckScoreArguments(int k, double temperature, int probeEpochs)
    {
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), k, "must be > 0");
        if (!(temperature > 0) || !double.IsFinite(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite number > 0");
        if (probeEpochs <= 0) throw new ArgumentOutOfRangeException(nameof(probeEpochs), probeEpochs, "must be > 0");
    }

    // The probe and kNN on extracted features; features that are not finite are refused (they would score by chance).
    private static EvalResult Score(string which, string source, (Tensor X, Tensor Y) train, (Tensor X, Tensor Y) test, int classes, int k, double temperature,
                                    int probeEpochs, ulong seed, IProgress<string>? log)
    {
        foreach (var (split, x) in new[] { ("train", train.X), ("test", test.X) })
            if (!isfinite(x).all().item<bool>())
                throw new InvalidDataException($"{source}: the {which} encoder gives NaN or infinite features on the {split} split; no score is reported");
        if (k > train.X.size(0)) throw new ArgumentOutOfRangeException(nameof(k), k, $"k = {k} is more than the {train.X.size(0)} training images");
        log?.Report($"linear probe ({probeEpochs} epochs) and {k}-NN on {which} features");
        var probe = LinearProbe.Run(train.X, train.Y, test.X, test.Y, classes, epochs: probeEpochs, seed: seed);
        double knn = KnnClassifier.Accuracy(train.X, train.Y, test.X, test.Y, classes, k, temperature);
        return new EvalResult(which, probe.TestAccuracy, knn, (int)train.X.size(1));
    }

    /// <summary>
    /// The supervised reference of a run: the same encoder from the same random initialisation trained with labels (a
    /// linear head on the mean of its patch tokens, <see cref="FineTune.RunSteps"/>) for the run's own budget — its steps of
    /// its batch size, at its learning rate — then scored by the same probe and kNN on its frozen features.
    /// <see cref="SupervisedResult.HeadTop1"/> is its own classifier's top-1. <paramref name="steps"/> replaces the budget.
    /// </summary>
    public static SupervisedResult EvaluateSupervised(string runDir, Device device, int k = 20, double temperature = 0.07, int probeEpochs = 30,
                                                      IProgress<string>? log = null, int evalSubset = 0, long? steps = null, int lastBlocks = 1)
    {
        CheckScoreArguments(k, temperature, probeEpochs);
        if (evalSubset < 0) throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, "must be ≥ 0 (0: all images)");
        if (steps is <= 0) throw new ArgumentOutOfRangeException(nameof(steps), steps, "must be > 0");
        var (spec, method, train, test) = Prepare(runDir, device, randomInit: true, evalSubset);
        using var _ = method;
        long budget = steps ?? spec.Steps;
        int batch = Math.Min(spec.BatchSize, train.Count);
        log?.Report($"supervised reference: {budget} steps of {batch} labelled images from the same initialisation");
        var trained = FineTune.RunSteps(method.Encoder, train, test, device, budget, batch, lr: spec.LearningRate, seed: spec.Seed, log: log);
        var (xtr, ytr) = Features.Extract(method.Encoder, train, device, lastBlocks: lastBlocks);
        var (xte, yte) = Features.Extract(method.Encoder, test, device, lastBlocks: lastBlocks);
        using (xtr) using (ytr) using (xte) using (yte)
            return new SupervisedResult(Score("supervised", runDir, (xtr, ytr), (xte, yte), train.ClassNames.Count, k, temperature, probeEpochs, spec.Seed, log),
                                        trained.TestAccuracy, budget);
    }

    /// <summary>
    /// A CAN run's reconstruction and denoising losses on the first <paramref name="count"/> images of its evaluation split
    /// (the test split, or its held-out validation images), beside the learned-nothing values (<see cref="CanHeldOutLosses"/>).
    /// </summary>
    public static CanHeldOutLosses HeldOutLosses(string runDir, int count = 1024, ulong seed = 3)
    {
        var spec = RunSpec.Load(runDir);
        var (_, eval) = Splits(spec);
        using var method = LoadMethod(runDir, spec, eval, randomInit: false);
        if (method.Module is not Can can) throw new ArgumentException($"{runDir} is a {spec.Method} run; held-out CAN losses need a CAN run");
        return CanHeldOutLosses.Measure(can, eval, count, seed);
    }

    /// <summary>Images per fine-tuning step (FineTune's default).</summary>
    public const int FineTuneBatch = 128;

    /// <summary>Fine-tunes the run's encoder (or the random-init one) with a linear head; returns test top-1.</summary>
    public static FineTune.Result FineTuneRun(string runDir, Device device, bool randomInit = false, int epochs = 5, int evalSubset = 0, IProgress<string>? log = null)
    {
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "must be > 0");
        if (evalSubset < 0) throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, "must be ≥ 0 (0: all images)");
        var (spec, method, train, test) = Prepare(runDir, device, randomInit, evalSubset);
        using var _ = method;
        if (train.Count < FineTuneBatch)
            throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, $"{train.Count} training images are fewer than one fine-tuning batch of {FineTuneBatch}");
        return FineTune.Run(method.Encoder, train, test, device, epochs, FineTuneBatch, seed: spec.Seed, log: log);
    }

    /// <summary>
    /// Runs the trained method once on <paramref name="count"/> test images (both views un-augmented) and saves the
    /// originals / masked input / reconstruction / predicted-noise grid as a PNG.
    /// </summary>
    public static void SaveReconstructions(string runDir, string pngPath, int count = 8)
    {
        var spec = RunSpec.Load(runDir);
        var test = Datasets.Load(spec.Dataset, spec.DataRoot, train: false);
        using var method = LoadMethod(runDir);
        if (method.Module is not Can can) throw new ArgumentException($"reconstruction grids are drawn for CAN runs; {runDir} is a {spec.Method} run");
        using var scope = NewDisposeScope();
        using var g = new Generator(spec.Seed + 1);
        var (x, _) = test.Batch(Enumerable.Range(0, count).ToArray());
        using var noGrad = no_grad();
        can.eval();
        var result = can.Forward(x, x, g, keepPredictions: true);
        Plots.ReconstructionGrid.SavePng(pngPath, result.Predictions!, can.Config.Encoder.PatchSize, test.Normalization, can.Config.NormPixLoss, count);
    }

    /// <summary>Writes the run's encoder with timm's parameter names to a safetensors file.</summary>
    public static void ExportEncoder(string runDir, string path)
    {
        RefuseToOverwriteOtherFiles(path);
        using var method = LoadMethod(runDir);
        var spec = RunSpec.Load(runDir);
        var meta = new Dictionary<string, string> { ["format"] = "pt", [RunMetadata] = spec.ToJson(), [ExportMarker] = "encoder" };
        SafeTensors.Save(path, method.Encoder.state_dict(), meta);
    }

    /// <summary>
    /// Writes the run's whole method (encoder, heads, decoder, σ MLP; no optimiser state) as a float16
    /// <see cref="PretrainedModel"/> file, with run.json and the checkpoint's step in the metadata.
    /// </summary>
    public static void ExportModel(string runDir, string path)
    {
        RefuseToOverwriteOtherFiles(path);
        using var method = LoadMethod(runDir);
        PretrainedModel.Save(path, method, RunSpec.Load(runDir), Checkpoint.ReadStep(Path.Combine(runDir, Trainer.CheckpointFile)));
    }

    /// <summary>
    /// Metadata key that marks a file as an export, with its kind (<c>encoder</c>, or <see cref="PretrainedModel.Kind"/>):
    /// only such a file is replaced by a new export.
    /// </summary>
    public const string ExportMarker = "cankit_export";

    /// <summary>Metadata key of an export's run.json.</summary>
    public const string RunMetadata = "cankit_run";

    /// <summary>
    /// An export may replace an earlier export (of either kind), never anything else: a run's checkpoint, its run.json or
    /// any file that is not a safetensors file carrying <see cref="ExportMarker"/> would be lost. Checked before anything
    /// is read or written.
    /// </summary>
    private static void RefuseToOverwriteOtherFiles(string path)
    {
        if (Directory.Exists(path)) throw new IOException($"{path}: is a folder; --to names the file to write");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } parent && !Directory.Exists(parent))
            throw new IOException($"{path}: its folder {parent} does not exist");
        if (!File.Exists(path)) return;
        bool isExport;
        try { isExport = SafeTensors.ReadHeader(path).Metadata.TryGetValue(ExportMarker, out var kind) && kind is "encoder" or PretrainedModel.Kind; }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException) { isExport = false; }
        if (!isExport)
            throw new IOException($"{path}: exists and is not an encoder or model export; refusing to overwrite it (choose another --to, or delete it first)");
    }
}
