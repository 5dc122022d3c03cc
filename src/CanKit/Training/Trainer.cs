using System.Diagnostics;
using CanKit.Data;
using CanKit.Distributed;
using CanKit.Methods;
using CanKit.Optim;

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
/// Pre-trains an <see cref="IPretrainMethod"/> on an <see cref="ImageSet"/>: AdamW with warm-up + cosine,
/// gradient accumulation, optional clipping, the method's post-step hook (CMAE's EMA), NaN/inf detection,
/// atomic checkpoints every N steps, at the end and on cancellation, metrics to JSONL/CSV, and progress reports.
/// With the same seed, a run resumed from a checkpoint reproduces the uninterrupted run exactly on CPU.
/// With a <see cref="Group"/> it trains data-parallel (see Trainer.Distributed.cs): each rank takes its slice of
/// every global batch of <see cref="TrainConfig.BatchSize"/> images, gradients are averaged over ranks, rank 0 writes.
/// </summary>
public sealed partial class Trainer
{
    public const string CheckpointFile = "checkpoint.safetensors";

    private readonly IPretrainMethod _method;
    private readonly ImageSet _data;
    private readonly TrainConfig _config;
    private readonly string _outDir;
    private readonly string _fingerprint;

    public Trainer(IPretrainMethod method, ImageSet data, TrainConfig config, string outputDirectory, string fingerprint)
    {
        (_method, _data, _config, _outDir, _fingerprint) = (method, data, config.Validate(), outputDirectory, fingerprint);
    }

    public string CheckpointPath => Path.Combine(_outDir, CheckpointFile);

    /// <summary>Data-parallel training over this group (null: one process).</summary>
    public ProcessGroup? Group { get; init; }

    /// <summary>With a group: contrastive negatives from every rank (the loss of one process holding the global batch).</summary>
    public bool GlobalNegatives { get; init; } = true;

    private int Rank => Group?.Rank ?? 0;
    private int WorldSize => Group?.WorldSize ?? 1;

    /// <summary>Runs to the configured number of steps, resuming from the checkpoint in the output folder if one exists.</summary>
    public TrainOutcome Run(IProgress<StepMetrics>? progress = null, CancellationToken cancel = default)
    {
        var c = _config;
        var module = _method.Module;
        if (c.BatchSize % (WorldSize * c.Accumulation) != 0)
            throw new ArgumentOutOfRangeException(nameof(c.BatchSize), c.BatchSize, $"must be divisible by world size × accumulation = {WorldSize} × {c.Accumulation}");
        // Each rank draws its own views, masks and noise (seed + rank); rank 0 of a group draws what one process would.
        using var generator = new Generator(c.Seed + (ulong)Rank, c.Device);
        using var optimizer = new AdamW(AdamW.DecayGroups(module, c.WeightDecay), lr: c.LearningRate, beta1: 0.9, beta2: 0.95, weightDecay: c.WeightDecay);
        var schedule = new WarmupCosineSchedule(c.LearningRate, c.WarmupSteps, c.Steps, c.MinLearningRate);

        long step = 0;
        var position = new DataPosition(0, 0);
        bool resumed = File.Exists(CheckpointPath);
        if (resumed)
        {
            var info = Checkpoint.Load(CheckpointPath, module, optimizer, generator, _method.Name, _fingerprint);
            if (info.TotalSteps != c.Steps)
                throw new InvalidDataException($"{CheckpointPath}: checkpoint belongs to a {info.TotalSteps}-step run, this run has {c.Steps} steps");
            (step, position) = (info.Step, info.Data);
            RestoreRankGenerator(generator, step);
        }
        AgreeOnStart(module, step, resumed);
        string? lastGood = resumed ? CheckpointPath : null;
        using var metrics = Rank == 0 ? new MetricsLog(_outDir, append: resumed) : null;
        using var loader = new BatchLoader(_data, c.BatchSize, c.Seed, position, pinMemory: c.Device.IsCuda, rank: Rank, worldSize: WorldSize);
        var clock = Stopwatch.StartNew();
        long imagesSinceLog = 0;
        double logStart = 0;
        int micro = c.BatchSize / WorldSize / c.Accumulation;

        while (step < c.Steps)
        {
            if (AnyRankCancelled(cancel.IsCancellationRequested))
            {
                Save(module, optimizer, generator, step, position);
                return TrainOutcome.Interrupted;
            }
            var (hostImages, next) = loader.Next();
            LossBreakdown terms;
            double lr;
            using (var scope = Torch.NewDisposeScope())
            {
                var images = hostImages.To(c.Device, DType.UInt8, nonBlocking: c.Device.IsCuda);
                lr = schedule.Apply(optimizer, step);
                optimizer.ZeroGrad();
                var sums = new double[5];
                for (int m = 0; m < c.Accumulation; m++)
                {
                    var part = c.Accumulation == 1 ? images : images.Narrow(0, m * micro, micro);
                    StepResult result;
                    using (c.UsesMixedPrecision ? Torch.Autocast(c.Device, DType.BFloat16) : null)
                        result = _method.Step(part, _data.Normalization, generator);
                    CheckFinite(result.Terms, step, lastGood);
                    (c.Accumulation == 1 ? result.Loss : result.Loss / c.Accumulation).Backward();
                    var t = result.Terms;
                    sums[0] += t.Total; sums[1] += t.Contrastive; sums[2] += t.Reconstruction; sums[3] += t.Denoise; sums[4] += t.ContrastiveTop1;
                }
                if (Group is not null) DataParallel.AverageGradients(Group, optimizer.AllParameters());
                if (step + 1 == c.Steps || (step + 1) % c.LogEvery == 0) MeanOverRanks(sums);
                terms = new LossBreakdown(sums[0] / c.Accumulation, sums[1] / c.Accumulation, sums[2] / c.Accumulation, sums[3] / c.Accumulation, sums[4] / c.Accumulation);
                if (c.ClipNorm > 0) GradClip.ClipGradNorm(optimizer.AllParameters(), c.ClipNorm);
                optimizer.Step();
                _method.AfterOptimizerStep(step, c.Steps);
            }
            hostImages.Dispose();
            step++;
            position = next;
            imagesSinceLog += c.BatchSize;

            if (step % c.LogEvery == 0 || step == c.Steps)
            {
                double now = clock.Elapsed.TotalSeconds;
                var m = new StepMetrics(step, position.Epoch, lr, terms.Total, terms.Contrastive, terms.Reconstruction, terms.Denoise,
                    terms.ContrastiveTop1, imagesSinceLog / Math.Max(1e-9, now - logStart), now);
                metrics?.Write(m);
                progress?.Report(m);
                imagesSinceLog = 0;
                logStart = now;
            }
            if (step % c.CheckpointEvery == 0 || step == c.Steps)
            {
                Save(module, optimizer, generator, step, position);
                lastGood = CheckpointPath;
            }
        }
        return TrainOutcome.Completed;
    }

    // Every rank takes part (the generators are gathered); rank 0 writes.
    private void Save(Nn.Module module, Optimizer optimizer, Generator generator, long step, DataPosition position)
    {
        var ranks = GatherRankGenerators(generator);
        try
        {
            if (Rank == 0)
                Checkpoint.Save(CheckpointPath, module, optimizer, generator, new CheckpointInfo(step, _config.Steps, position, _method.Name, _fingerprint), ranks);
        }
        finally
        {
            foreach (var t in ranks.Values) t.Dispose();
        }
    }

    private static void CheckFinite(LossBreakdown t, long step, string? lastGood)
    {
        foreach (var (name, v) in new[] { ("contrastive", t.Contrastive), ("reconstruction", t.Reconstruction), ("denoise", t.Denoise), ("total", t.Total) })
            if (!double.IsFinite(v)) throw new NonFiniteLossException(step + 1, name, v, lastGood);
    }
}
