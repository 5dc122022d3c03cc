using System.Globalization;

namespace CanKit.Ablation;

/// <summary>
/// Where an ablation suite stands, one line before each run: its place in the suite, the time so far and an estimate of
/// the time left — the mean time of the runs trained so far in this invocation times the runs still to come (runs reused
/// from an earlier invocation cost nothing and are not counted in the mean).
/// </summary>
public sealed class SuiteProgress(int total)
{
    private int _done, _trained;
    private double _trainedSeconds, _seconds;

    /// <summary>Runs in the suite.</summary>
    public int Total { get; } = total > 0 ? total : throw new ArgumentOutOfRangeException(nameof(total), total, "must be > 0");

    /// <summary>Seconds left by the estimate (null until a run has been trained in this invocation).</summary>
    public double? SecondsLeft => _trained == 0 ? null : _trainedSeconds / _trained * (Total - _done);

    /// <summary>Runs finished (trained or reused) so far.</summary>
    public int Done => _done;

    /// <summary>The run under way (or last begun): its row and seed; null before the first.</summary>
    public (string Row, int Seed)? Current { get; private set; }

    /// <summary>
    /// Seconds left in the suite while a run is under way: that run's own <paramref name="runSecondsLeft"/>, plus each run
    /// after it at the mean time of the runs trained so far in this invocation — or, before any has finished, at this
    /// run's projected whole time <paramref name="runSecondsProjected"/> (its step rate times its steps).
    /// </summary>
    public double SecondsLeftDuring(double runSecondsProjected, double runSecondsLeft)
    {
        double perRun = _trained > 0 ? _trainedSeconds / _trained : runSecondsProjected;
        return runSecondsLeft + Math.Max(0, Total - _done - 1) * perRun;
    }

    /// <summary>The line before run <paramref name="row"/> at <paramref name="seed"/>.</summary>
    public string Before(string row, int seed, bool reused)
    {
        Current = (row, seed);
        string left = SecondsLeft is { } s
            ? string.Create(CultureInfo.InvariantCulture, $"about {Minutes(s)} left (mean {_trainedSeconds / _trained:F0} s per trained run)")
            : "time left known after the first trained run";
        return string.Create(CultureInfo.InvariantCulture,
            $"run {_done + 1}/{Total}: {row} seed {seed}{(reused ? " (done before)" : "")} · {Minutes(_seconds)} so far, {left}");
    }

    /// <summary>Records a finished run and how long it took.</summary>
    public void After(bool reused, double seconds)
    {
        if (_done >= Total) throw new InvalidOperationException($"all {Total} runs are already recorded");
        _done++;
        _seconds += seconds;
        if (reused) return;
        _trained++;
        _trainedSeconds += seconds;
    }

    private static string Minutes(double seconds) => string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:F1} min");
}
