namespace CanKit.Training;

/// <summary>How long and how a pre-training run goes. Checked when set.</summary>
public sealed record TrainConfig
{
    private readonly int _batchSize = 256, _accumulation = 1, _checkpointEvery = 500, _logEvery = 10;
    private readonly long _steps = 1000;
    private readonly double _lr = 1.5e-4, _minLr = 1e-6, _weightDecay = 0.05, _warmup = 0.05, _clip;

    /// <summary>Images per optimiser step (all micro-batches together). CAN/MAE on ImageNet: 4096; small runs: 128–512.</summary>
    public int BatchSize
    {
        get => _batchSize;
        init => _batchSize = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(BatchSize), value, "must be > 0");
    }

    /// <summary>Micro-batches per step (gradient accumulation): same result as one big batch, less memory.</summary>
    public int Accumulation
    {
        get => _accumulation;
        init => _accumulation = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(Accumulation), value, "must be > 0");
    }

    /// <summary>Optimiser steps in the whole run (the schedule's length).</summary>
    public long Steps { get => _steps; init => _steps = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(Steps), value, "must be > 0"); }

    /// <summary>Peak learning rate after warm-up (MAE: 1.5e-4 · batch/256).</summary>
    public double LearningRate
    {
        get => _lr;
        init => _lr = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(LearningRate), value, "must be > 0");
    }

    /// <summary>Learning rate at the end of the cosine.</summary>
    public double MinLearningRate
    {
        get => _minLr;
        init => _minLr = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(MinLearningRate), value, "must be ≥ 0");
    }

    /// <summary>AdamW decoupled weight decay on weight matrices (MAE/CAN: 0.05). Norms and biases get none.</summary>
    public double WeightDecay
    {
        get => _weightDecay;
        init => _weightDecay = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(WeightDecay), value, "must be ≥ 0");
    }

    /// <summary>Share of the steps spent warming up linearly.</summary>
    public double WarmupFraction
    {
        get => _warmup;
        init => _warmup = value is >= 0 and < 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(WarmupFraction), value, "must be in [0, 1)");
    }

    /// <summary>Clip the global gradient norm to this (0: off).</summary>
    public double ClipNorm
    {
        get => _clip;
        init => _clip = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(ClipNorm), value, "must be ≥ 0");
    }

    /// <summary>Write a checkpoint every this many steps (and at the end, and on Ctrl-C).</summary>
    public int CheckpointEvery
    {
        get => _checkpointEvery;
        init => _checkpointEvery = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(CheckpointEvery), value, "must be > 0");
    }

    /// <summary>Also keep each periodic checkpoint as <c>checkpoint-{step}.safetensors</c> (a budget study probes them).</summary>
    public bool KeepCheckpoints { get; init; }

    /// <summary>Metrics line every this many steps.</summary>
    public int LogEvery
    {
        get => _logEvery;
        init => _logEvery = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(LogEvery), value, "must be > 0");
    }

    /// <summary>Seed of the data order, augmentations, masks and noise.</summary>
    public ulong Seed { get; init; }

    /// <summary>Where the model, the views and the optimiser state live (batches are assembled on the CPU).</summary>
    public Device Device { get; init; } = CPU;

    public long WarmupSteps => (long)(Steps * WarmupFraction);

    public TrainConfig Validate()
    {
        if (BatchSize % Accumulation != 0)
            throw new ArgumentOutOfRangeException(nameof(Accumulation), Accumulation, $"must divide the batch size {BatchSize}");
        if (MinLearningRate > LearningRate)
            throw new ArgumentOutOfRangeException(nameof(MinLearningRate), MinLearningRate, $"must not exceed the learning rate {LearningRate}");
        return this;
    }
}
