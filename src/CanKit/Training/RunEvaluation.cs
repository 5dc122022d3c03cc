using CanKit.Data;
using CanKit.Evaluation;
using CanKit.Methods;
using CanKit.Vision;
using static CanKit.Training.PretrainRun;

namespace CanKit.Training;

/// <summary>Linear-probe and kNN top-1 of one encoder.</summary>
public sealed record EvalResult(string Encoder, double ProbeTop1, double KnnTop1, int Dim);

/// <summary>The supervised reference: probe and kNN of its frozen features, its own head's top-1, and its steps.</summary>
public sealed record SupervisedResult(EvalResult Frozen, double HeadTop1, long Steps);

/// <summary>
/// Scores a run folder's encoder (or any encoder) with the kit's protocol — linear probe and weighted kNN of frozen
/// features — beside its baselines: the raw pixels, the same encoder at random initialisation, and the supervised
/// reference trained with labels for the run's budget; and the run's held-out CAN losses and fine-tuning.
/// </summary>
public static class RunEvaluation
{
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
                                         () => Features.Extract(method.Encoder, train, device, lastBlocks: lastBlocks), train.Labels, log);
        var (xte, yte) = Features.Cached(Path.Combine(runDir, $"features-{which}{blocks}-test.safetensors"), $"{stamp}/{test.Count}",
                                         () => Features.Extract(method.Encoder, test, device, lastBlocks: lastBlocks), test.Labels, log);
        using (xtr) using (ytr) using (xte) using (yte)
            return Score(which, runDir, (xtr, ytr), (xte, yte), train.ClassNames.Count, k, temperature, probeEpochs, spec.Seed, log);
    }

    /// <summary>
    /// Linear probe and kNN of the raw pixels of the run's splits (the test split, or its held-out validation images): the
    /// same protocol as <see cref="Evaluate"/>, with the pixels as the encoder. The row any pre-trained encoder must beat.
    /// </summary>
    public static EvalResult EvaluatePixels(string runDir, int k = 20, double temperature = 0.07, int probeEpochs = 30,
                                            IProgress<string>? log = null, int evalSubset = 0)
        => EvaluatePixels(RunSpec.Load(runDir), k, temperature, probeEpochs, log, evalSubset);

    /// <inheritdoc cref="EvaluatePixels(string, int, double, int, IProgress{string}?, int)"/>
    public static EvalResult EvaluatePixels(RunSpec spec, int k = 20, double temperature = 0.07, int probeEpochs = 30,
                                            IProgress<string>? log = null, int evalSubset = 0)
    {
        CheckScoreArguments(k, temperature, probeEpochs);
        if (evalSubset < 0) throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, "must be ≥ 0 (0: all images)");
        var (train, test) = Splits(spec);
        if (evalSubset > 0) (train, test) = (train.Take(evalSubset), test.Take(Math.Max(1, evalSubset / 6)));
        log?.Report($"raw pixels as features ({train.Count} train, {test.Count} {(spec.Holdout > 0 ? "held-out" : "test")})");
        return EvaluatePixels(train, test, k, temperature, probeEpochs, spec.Seed, log);
    }

    /// <summary>
    /// The raw-pixel row for any two sets: the probe and kNN of <see cref="Features.Pixels"/> of <paramref name="train"/> and
    /// <paramref name="test"/>.
    /// </summary>
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
        if (!(temperature > 0) || !double.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "must be a finite number > 0");
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
            return new SupervisedResult(Score("supervised", runDir, (xtr, ytr), (xte, yte), train.ClassNames.Count,
                                              k, temperature, probeEpochs, spec.Seed, log),
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
    public static FineTune.Result FineTuneRun(string runDir, Device device, bool randomInit = false, int epochs = 5, int evalSubset = 0,
                                              IProgress<string>? log = null)
    {
        if (epochs <= 0) throw new ArgumentOutOfRangeException(nameof(epochs), epochs, "must be > 0");
        if (evalSubset < 0) throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset, "must be ≥ 0 (0: all images)");
        var (spec, method, train, test) = Prepare(runDir, device, randomInit, evalSubset);
        using var _ = method;
        if (train.Count < FineTuneBatch)
            throw new ArgumentOutOfRangeException(nameof(evalSubset), evalSubset,
                                                  $"{train.Count} training images are fewer than one fine-tuning batch of {FineTuneBatch}");
        return FineTune.Run(method.Encoder, train, test, device, epochs, FineTuneBatch, seed: spec.Seed, log: log);
    }
}
