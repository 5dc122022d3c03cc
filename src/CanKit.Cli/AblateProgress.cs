using CanKit.Ablation;
using CanKit.Training;

namespace CanKit.Cli;

/// <summary>
/// <c>ablate</c>'s progress: each logged step of the run under way as the status line (step, loss, the run's time left and
/// the suite's), and the suite's lines (one before each run, each probe's scores) as log lines, all in order.
/// </summary>
internal sealed class AblateProgress(StatusLine console, long steps, Func<SuiteProgress?> suite) : IProgress<StepMetrics>
{
    private StepMetrics? _first;   // the run's first report in this process (a resumed run starts part-way)
    private int _runAtFirst = -1;

    /// <summary>A line of the suite's log.</summary>
    public void Line(string text) => console.Line(text);

    public void Report(StepMetrics m) => console.Status(Text(m), final: m.Step >= steps);

    /// <summary>The status for step <paramref name="m"/> of the run under way.</summary>
    public string Text(StepMetrics m)
    {
        var s = suite();
        int done = s?.Done ?? 0;
        if (_first is null || done != _runAtFirst || m.Step < _first.Step) (_first, _runAtFirst) = (m, done);
        long stepsDone = m.Step - _first.Step;
        double sofar = m.ElapsedSeconds - _first.ElapsedSeconds;
        double? perStep = stepsDone > 0 ? sofar / stepsDone : null;
        double? runLeft = perStep * (steps - m.Step);
        double? suiteLeft = perStep is { } p && s is not null ? s.SecondsLeftDuring(p * steps, p * (steps - m.Step)) : null;
        string run = s?.Current is var (row, seed) ? $"{row} seed {seed}" : "run";
        string where = s is null ? "" : $" · run {Math.Min(done + 1, s.Total)}/{s.Total}";
        return $"{run}: step {m.Step}/{steps} · loss {m.Loss:F3} · {m.ImagesPerSecond:F0} img/s · " +
               $"{StatusLine.Duration(runLeft)} left in the run, {StatusLine.Duration(suiteLeft)} in the suite{where}";
    }
}
