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
