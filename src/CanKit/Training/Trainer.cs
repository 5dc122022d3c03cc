using CanKit.Data;
using CanKit.Distributed;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Sampling;

namespace CanKit.Training;

/// <summary>
/// Pre-trains an <see cref="IPretrainMethod"/> on an <see cref="ImageSet"/>: <c>torch.optim.AdamW</c> (β = 0.9, 0.95,
/// decay on weight matrices only) with warm-up + cosine, gradient accumulation, optional clipping, the method's
/// post-step hook (CMAE's EMA), NaN/inf detection, atomic checkpoints every N steps, at the end and on
/// cancellation, metrics to JSONL/CSV (and TensorBoard), and progress reports. Each step runs inside one
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

    /// <summary>Where the metrics lines are also written as TensorBoard scalars (by rank 0 only); null: nowhere.</summary>
    public TensorBoardLog? TensorBoard { get; init; }

    /// <summary>Steps between two measurements of <see cref="Monitor"/>.</summary>
    public int MonitorEvery
    {
        get;
        init { field = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(MonitorEvery), value, "must be > 0"); }
    } = 250;

    private int Rank => Group?.Rank ?? 0;
    private int WorldSize => Group?.WorldSize ?? 1;

    /// <summary>The name of the copy of step <paramref name="step"/>'s checkpoint that <see cref="TrainConfig.KeepCheckpoints"/> keeps.</summary>
    public static string SnapshotFile(long step) => $"checkpoint-{step}.safetensors";

    /// <summary>Runs to the configured number of steps, resuming from the checkpoint in the output folder if one exists.</summary>
    public TrainOutcome Run(IProgress<StepMetrics>? progress = null, CancellationToken cancel = default)
    {
        var c = _config;
        var module = _method.Module;
        CheckSetup();
        if (c.Device.type != DeviceType.CPU) module.to(c.Device);      // before the optimiser takes the parameters
        module.train();
        // The step generator draws the views, masks and noise on the training device. Every rank holds it in the same
        // state: its draws are sharded by SeededDraws, so one saved state resumes at any world size.
        using var generator = new Generator(c.Seed, c.Device);
        using var optimizer = new AdamW(WeightDecayGroups.Split(module, c.WeightDecay), lr: c.LearningRate, beta1: 0.9, beta2: 0.95,
                                        weight_decay: c.WeightDecay);
        var run = new RunState(module, optimizer, generator, new WarmupCosineSchedule(c.LearningRate, c.WarmupSteps, c.Steps, c.MinLearningRate));
        bool resumed = Resume(run);
        AgreeOnStart(module, run.Step, resumed);
        run.LastGood = resumed ? CheckpointPath : null;
        using var metrics = Rank == 0 ? new MetricsLog(_outDir, append: resumed) : null;
        bool cuda = c.Device.type == DeviceType.CUDA;
        using var loader = new BatchLoader(_data, c.BatchSize, c.Seed, run.Position, pinMemory: cuda, rank: Rank, worldSize: WorldSize);
        var log = new StepLog(metrics, Rank == 0 ? TensorBoard : null, progress);

        while (run.Step < c.Steps)
        {
            if (Group is null ? cancel.IsCancellationRequested : run.Stop)
            {
                Save(run);
                return TrainOutcome.Interrupted;
            }
            var (hostImages, next) = loader.Next();
            using (hostImages)
                TrainStep(run, hostImages, cuda, cancel);
            run.Step++;
            run.Position = next;
            log.Images += c.BatchSize;
            bool monitored = Monitor is not null && Rank == 0 && (run.Step % MonitorEvery == 0 || run.Step == c.Steps);
            if (run.Step % c.LogEvery == 0 || run.Step == c.Steps || monitored)
                log.Write(run, monitored ? Monitor : null);
            if (run.Step % c.CheckpointEvery == 0 || run.Step == c.Steps)
            {
                Save(run);
                run.LastGood = CheckpointPath;
                if (c.KeepCheckpoints) File.Copy(CheckpointPath, Path.Combine(_outDir, SnapshotFile(run.Step)), overwrite: true);
            }
        }
        return TrainOutcome.Completed;
    }

    // What one run carries from step to step.
    private sealed class RunState(nn.Module module, AdamW optimizer, Generator generator, WarmupCosineSchedule schedule)
    {
        public WarmupCosineSchedule Schedule { get; } = schedule;
        public nn.Module Module { get; } = module;
        public AdamW Optimizer { get; } = optimizer;
        public Generator Generator { get; } = generator;
        public List<Parameter> Trainable { get; } = module.parameters().Where(p => p.requires_grad).ToList();
        public long Step { get; set; }
        public DataPosition Position { get; set; } = new(0, 0);
        public string? LastGood { get; set; }
        public bool Stop { get; set; }                 // data-parallel: every rank agreed to stop after this step
        public double LearningRate { get; set; }
        public LossBreakdown Terms { get; set; } = new(0, 0, 0, 0, 0);
    }

    private void CheckSetup()
    {
        var c = _config;
        if (c.BatchSize % (WorldSize * c.Accumulation) != 0)
            throw new ArgumentOutOfRangeException(nameof(c.BatchSize), c.BatchSize,
                $"the batch of {c.BatchSize} images is not divisible by world size × accumulation = {WorldSize} × {c.Accumulation}");
        if (Group is not null && c.Device.type != DeviceType.CPU)
            throw new NotSupportedException($"data-parallel training runs on the CPU here (Gloo); {c.Device} needs NCCL, which is not built");
    }

    // Loads the folder's checkpoint, if there is one, into the run; true when it did.
    private bool Resume(RunState run)
    {
        if (Rank == 0) RemoveStrayTemporaryFiles();
        if (!File.Exists(CheckpointPath)) return false;
        var info = Checkpoint.Load(CheckpointPath, run.Module, run.Optimizer, run.Generator, _method.Name, _fingerprint);
        if (info.TotalSteps != _config.Steps)
            throw new InvalidDataException($"{CheckpointPath}: checkpoint belongs to a {info.TotalSteps}-step run, this run has {_config.Steps} steps");
        long batchesPerEpoch = _data.Count / _config.BatchSize;
        if (info.Data.Batch > batchesPerEpoch)
            throw new InvalidDataException($"{CheckpointPath}: metadata 'batch' {info.Data.Batch} is beyond the {batchesPerEpoch} batches " +
                                           $"of an epoch of {_data.Name}");
        (run.Step, run.Position) = (info.Step, info.Data);
        // Steps logged after this checkpoint (before a crash) are trained again: drop their lines so none appears twice.
        if (Rank == 0) MetricsLog.TruncateAfter(_outDir, run.Step);
        return true;
    }

    // One optimiser step on a batch: forward and backward of each micro-batch, gradients averaged over ranks, clipping,
    // the update and the method's post-step hook, all inside one dispose scope.
    private void TrainStep(RunState run, Tensor hostImages, bool cuda, CancellationToken cancel)
    {
        var c = _config;
        int micro = c.BatchSize / WorldSize / c.Accumulation;
        using var scope = NewDisposeScope();
        using var shard = Group is null ? null : SeededDraws.Enter(Rank, WorldSize, micro);
        var images = hostImages.to(c.Device, non_blocking: cuda);            // [B, C, H, W] uint8
        run.LearningRate = run.Schedule.Apply(run.Optimizer, run.Step);
        run.Optimizer.zero_grad();
        var sums = new double[5];
        for (int m = 0; m < c.Accumulation; m++)
        {
            var part = c.Accumulation == 1 ? images : images.narrow(0, m * micro, micro);
            var result = _method.Step(part, _data.Normalization, run.Generator);
            if (Group is null) CheckFinite(result.Terms, run.Step, run.LastGood);
            // Mean over micro-batches: the same gradient as one batch of B images.
            (c.Accumulation == 1 ? result.Loss : result.Loss / c.Accumulation).backward();
            var t = result.Terms;
            sums[0] += t.Total; sums[1] += t.Contrastive; sums[2] += t.Reconstruction; sums[3] += t.Denoise; sums[4] += t.ContrastiveTop1;
        }
        if (Group is not null)
        {
            Group.ThrowIfFailed();                                              // a collective inside backward failed
            run.Stop = AgreeAfterBackward(sums, cancel.IsCancellationRequested);
            CheckFinite(Terms(sums, c.Accumulation), run.Step, run.LastGood);   // the same on every rank
            DataParallel.AverageGradients(Group, run.Trainable);
        }
        run.Terms = Terms(sums, c.Accumulation);
        if (c.ClipNorm > 0) nn.utils.clip_grad_norm_(run.Trainable, c.ClipNorm);
        run.Optimizer.step();
        _method.AfterOptimizerStep(run.Step, c.Steps);
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
    private void Save(RunState run)
    {
        if (Rank == 0)
            Checkpoint.Save(CheckpointPath, run.Module, run.Optimizer, run.Generator,
                            new CheckpointInfo(run.Step, _config.Steps, run.Position, _method.Name, _fingerprint));
    }

    private static void CheckFinite(LossBreakdown t, long step, string? lastGood)
    {
        foreach (var (name, v) in new[] { ("contrastive", t.Contrastive), ("reconstruction", t.Reconstruction), ("denoise", t.Denoise),
                                          ("total", t.Total) })
            if (!double.IsFinite(v)) throw new NonFiniteLossException(step + 1, name, v, lastGood);
    }
}
