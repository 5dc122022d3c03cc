namespace CanKit.Optim;

/// <summary>
/// Linear warm-up from 0 to the base rate over <c>WarmupSteps</c>, then half-cosine decay to <c>MinLr</c> at
/// <c>TotalSteps</c> (the MAE / CAN recipe, applied per step).
/// </summary>
public sealed record WarmupCosineSchedule
{
    public double BaseLr { get; }
    public long WarmupSteps { get; }
    public long TotalSteps { get; }
    public double MinLr { get; }

    public WarmupCosineSchedule(double baseLr, long warmupSteps, long totalSteps, double minLr = 0)
    {
        if (baseLr < 0) throw new ArgumentOutOfRangeException(nameof(baseLr), baseLr, "must be ≥ 0");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), warmupSteps, "must be ≥ 0");
        if (totalSteps <= 0 || totalSteps < warmupSteps)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "must be > 0 and ≥ warmupSteps");
        if (minLr < 0 || minLr > baseLr) throw new ArgumentOutOfRangeException(nameof(minLr), minLr, "must be in [0, baseLr]");
        (BaseLr, WarmupSteps, TotalSteps, MinLr) = (baseLr, warmupSteps, totalSteps, minLr);
    }

    /// <summary>The rate for 0-based <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (step < WarmupSteps) return BaseLr * step / WarmupSteps;
        if (step >= TotalSteps) return MinLr;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return MinLr + (BaseLr - MinLr) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>Sets every parameter group of <paramref name="optimizer"/> to the rate for <paramref name="step"/> and returns it.</summary>
    public double Apply(optim.Optimizer optimizer, long step)
    {
        double lr = At(step);
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
        return lr;
    }
}
