using System.Diagnostics;
using CanKit.Data;
using CanKit.Distributed;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Sampling;

namespace CanKit.Training;

/// <summary>How a run ended.</summary>
public enum TrainOutcome { Completed, Interrupted }

/// <summary>A step's loss was NaN or infinite; the last good checkpoint is kept.</summary>
public sealed class NonFiniteLossException(long step, string term, double value, string? lastGoodCheckpoint)
    : Exception($"step {step}: the {term} loss is {value}; stopped. " +
                (lastGoodCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is {lastGoodCheckpoint}."))
{
    public long Step { get; } = step;
    public string Term { get; } = term;
}

/// <summary>
/// Pre-trains an <see cref="IPretrainMethod"/> on an <see cref="ImageSet"/>: <c>torch.optim.AdamW</c> (β = 0.9, 0.95,
/// decay on weight matrices only) with warm-up + cosine, gradient accumulation, optional clipping, the method's
/// post-step hook (CMAE's EMA), NaN/inf detection, atomic checkpoints every N steps, at the end and on
/// cancellation, metrics to JSONL/CSV, and progress reports. Each step runs inside one
/// <c>torch.NewDisposeScope()</c>, so native memory stays flat however long the run.
/// With the same seed, a run resumed from a checkpoint reproduces the uninterrupted run bit for bit on CPU: the
/// checkpoint holds the weights, AdamW's moments and step counts, the generator's state and the data position.
/// With a <see cref="Group"/> it trains data-parallel (see Trainer.DataParallel.cs and docs/distributed.md).
/// </summary>
public sealed partial class Trainer
{
    public const string CheckpointFile = "checkpoint.safetensors";

    private readonly IPretrainMethod _method;
    private readonly ImageSet _data;
    private readonly TrainConfig _config;
    private readonly string _outDir;
    private readonly string _fingerprint;

    /// <param name="method">The method to train (its module, step and after-step hook).</param>
    /// <param name="data">The training images.</param>
    /// <param name="config">Steps, batch, optimiser, schedule and device; validated here.</param>
    /// <param name="outputDirectory">Where the checkpoint and metrics are written.</param>
    /// <param name="fingerprint">The run's configuration as text; a checkpoint made with another one is not resumed.</param>
    public Trainer(IPretrainMethod method, ImageSet data, TrainConfig config, string outputDirectory, string fingerprint)
    {
        (_method, _data, _config, _outDir, _fingerprint) = (method, data, config.Validate(), outputDirectory, fingerprint);
    }

    public string CheckpointPath => Path.Combine(_outDir, CheckpointFile);

    /// <summary>
    /// Data-parallel training over this group (null: one process). Each rank takes its slice of every global batch of
    /// <see cref="TrainConfig.BatchSize"/> images and draws its samples' randomness as one process would; gradients are
    /// averaged over ranks; contrastive negatives come from every rank; rank 0 alone writes.
    /// </summary>
    public ProcessGroup? Group { get; init; }

    /// <summary>
    /// The online monitor (a kNN top-1 of the encoder as it is now, see <see cref="Evaluation.KnnMonitor"/>), measured by
    /// rank 0 every <see cref="MonitorEvery"/> steps and at the end, and logged with that step. It must draw no random
    /// numbers from the step generator, so runs with and without it train alike.
    /// </summary>
    public Func<double>? Monitor { get; init; }

    /// <summary>Steps between two measurements of <see cref="Monitor"/>.</summary>
    public int MonitorEvery { get; init { field = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MonitorEvery), value, "must be > 0"); } } = 250;

    private int Rank => Group?.Rank ?? 0;
    private int WorldSize => Group?.WorldSize ?? 1;

    /// <summary>The name of the copy of step <paramref name="step"/>'s checkpoint that <see cref="TrainConfig.KeepCheckpoints"/> keeps.</summary>
    public static string SnapshotFile(long step) => $"checkpoint-{step}.safetensors";

    /// <summary>Runs to the configured number of steps, resuming from the checkpoint in the output folder if one exists.</summary>
    public TrainOutcome Run(IProgress<StepMetrics>? progress = null, CancellationToken cancel = default)
    {
        var c = _config;
        var module = _method.Module;
        if (c.BatchSize % (WorldSize * c.Accumulation) != 0)
            throw new ArgumentOutOfRangeException(nameof(c.BatchSize), c.BatchSize,
                $"the batch of {c.BatchSize} images is not divisible by world size × accumulation = {WorldSize} × {c.Accumulation}");
        if (Group is not null && c.Device.type != DeviceType.CPU)
            throw new NotSupportedException($"data-parallel training runs on the CPU here (Gloo); {c.Device} needs NCCL, which is not built");
        if (c.Device.type != DeviceType.CPU) module.to(c.Device);      // before the optimiser takes the parameters
        module.train();
        var trainable = module.parameters().Where(p => p.requires_grad).ToList();
        // The step generator draws the views, masks and noise on the training device. Every rank holds it in the same
        // state: its draws are sharded by SeededDraws, so one saved state resumes at any world size.
        using var generator = new Generator(c.Seed, c.Device);
        using var optimizer = new AdamW(WeightDecayGroups.Split(module, c.WeightDecay), lr: c.LearningRate, beta1: 0.9, beta2: 0.95,
                                        weight_decay: c.WeightDecay);
        var schedule = new WarmupCosineSchedule(c.LearningRate, c.WarmupSteps, c.Steps, c.MinLearningRate);

        long step = 0;
        var position = new DataPosition(0, 0);
        if (Rank == 0) RemoveStrayTemporaryFiles();
        bool resumed = File.Exists(CheckpointPath);
        if (resumed)
        {
            var info = Checkpoint.Load(CheckpointPath, module, optimizer, generator, _method.Name, _fingerprint);
            if (info.TotalSteps != c.Steps)
                throw new InvalidDataException($"{CheckpointPath}: checkpoint belongs to a {info.TotalSteps}-step run, this run has {c.Steps} steps");
            long batchesPerEpoch = _data.Count / c.BatchSize;
            if (info.Data.Batch > batchesPerEpoch)
                throw new InvalidDataException($"{CheckpointPath}: metadata 'batch' {info.Data.Batch} is beyond the {batchesPerEpoch} batches of an epoch of {_data.Name}");
            (step, position) = (info.Step, info.Data);
            // Steps logged after this checkpoint (before a crash) are trained again: drop their lines so none appears twice.
            if (Rank == 0) MetricsLog.TruncateAfter(_outDir, step);
        }
        AgreeOnStart(module, step, resumed);
        string? lastGood = resumed ? CheckpointPath : null;
        using var metrics = Rank == 0 ? new MetricsLog(_outDir, append: resumed) : null;
        bool cuda = c.Device.type == DeviceType.CUDA;
        using var loader = new BatchLoader(_data, c.BatchSize, c.Seed, position, pinMemory: cuda, rank: Rank, worldSize: WorldSize);
        var clock = Stopwatch.StartNew();
        long imagesSinceLog = 0;
        double logStart = 0, monitorSeconds = 0;
        int micro = c.BatchSize / WorldSize / c.Accumulation;
        bool stop = false;

        while (step < c.Steps)
        {
            if (Group is null ? cancel.IsCancellationRequested : stop)
            {
                Save(module, optimizer, generator, step, position);
                return TrainOutcome.Interrupted;
            }
            var (hostImages, next) = loader.Next();
            LossBreakdown terms;
            double lr;
            using (hostImages)
            using (NewDisposeScope())
            using (Group is null ? null : SeededDraws.Enter(Rank, WorldSize, micro))
            {
                var images = hostImages.to(c.Device, non_blocking: cuda);            // [B, C, H, W] uint8
                lr = schedule.Apply(optimizer, step);
                optimizer.zero_grad();
                var sums = new double[5];
                for (int m = 0; m < c.Accumulation; m++)
                {
                    var part = c.Accumulation == 1 ? images : images.narrow(0, m * micro, micro);
                    var result = _method.Step(part, _data.Normalization, generator);
                    if (Group is null) CheckFinite(result.Terms, step, lastGood);
                    // Mean over micro-batches: the same gradient as one batch of B images.
                    (c.Accumulation == 1 ? result.Loss : result.Loss / c.Accumulation).backward();
                    var t = result.Terms;
                    sums[0] += t.Total; sums[1] += t.Contrastive; sums[2] += t.Reconstruction; sums[3] += t.Denoise; sums[4] += t.ContrastiveTop1;
                }
                if (Group is not null)
                {
                    Group.ThrowIfFailed();                                              // a collective inside backward failed
                    stop = AgreeAfterBackward(sums, cancel.IsCancellationRequested);
                    CheckFinite(Terms(sums, c.Accumulation), step, lastGood);           // the same on every rank
                    DataParallel.AverageGradients(Group, trainable);
                }
                terms = Terms(sums, c.Accumulation);
                if (c.ClipNorm > 0) nn.utils.clip_grad_norm_(trainable, c.ClipNorm);
                optimizer.step();
                _method.AfterOptimizerStep(step, c.Steps);
            }
            step++;
            position = next;
            imagesSinceLog += c.BatchSize;

            bool monitored = Monitor is not null && Rank == 0 && (step % MonitorEvery == 0 || step == c.Steps);
            if (step % c.LogEvery == 0 || step == c.Steps || monitored)
            {
                double knn = double.NaN;
                if (monitored)
                {
                    double before = clock.Elapsed.TotalSeconds;
                    knn = Monitor!();
                    monitorSeconds += clock.Elapsed.TotalSeconds - before;
                }
                double now = clock.Elapsed.TotalSeconds - monitorSeconds;   // training time: the monitor's is left out
                var m = new StepMetrics(step, position.Epoch, lr, terms.Total, terms.Contrastive, terms.Reconstruction, terms.Denoise,
                    terms.ContrastiveTop1, imagesSinceLog / Math.Max(1e-9, now - logStart), now, knn);
                metrics?.Write(m);
                progress?.Report(m);
                imagesSinceLog = 0;
                logStart = now;
            }
            if (step % c.CheckpointEvery == 0 || step == c.Steps)
            {
                Save(module, optimizer, generator, step, position);
                lastGood = CheckpointPath;
                if (c.KeepCheckpoints) File.Copy(CheckpointPath, Path.Combine(_outDir, SnapshotFile(step)), overwrite: true);
            }
        }
        return TrainOutcome.Completed;
    }

    // A write killed part-way leaves ".checkpoint.safetensors.<guid>.tmp" beside the checkpoint (the atomic save's
    // temporary file); nothing else writes in this folder while the run starts, so every such file is stale.
    private void RemoveStrayTemporaryFiles()
    {
        if (!Directory.Exists(_outDir)) return;
        foreach (string tmp in Directory.EnumerateFiles(_outDir, $".{CheckpointFile}.*.tmp"))
            File.Delete(tmp);
    }

    private static LossBreakdown Terms(double[] sums, int accumulation) =>
        new(sums[0] / accumulation, sums[1] / accumulation, sums[2] / accumulation, sums[3] / accumulation, sums[4] / accumulation);

    // Rank 0 alone writes (atomically); the state is the same on every rank.
    private void Save(nn.Module module, AdamW optimizer, Generator generator, long step, DataPosition position)
    {
        if (Rank == 0) Checkpoint.Save(CheckpointPath, module, optimizer, generator, new CheckpointInfo(step, _config.Steps, position, _method.Name, _fingerprint));
    }

    private static void CheckFinite(LossBreakdown t, long step, string? lastGood)
    {
        foreach (var (name, v) in new[] { ("contrastive", t.Contrastive), ("reconstruction", t.Reconstruction), ("denoise", t.Denoise), ("total", t.Total) })
            if (!double.IsFinite(v)) throw new NonFiniteLossException(step + 1, name, v, lastGood);
    }
}
