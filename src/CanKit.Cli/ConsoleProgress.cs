using CanKit.Training;
using Spectre.Console;

namespace CanKit.Cli;

/// <summary>
/// Training progress on the console: a live Spectre.Console panel (step, images/s, each loss term, ETA) on a
/// terminal; plain one-line reports when output is redirected (CI, logs, pipes).
/// </summary>
internal sealed class ConsoleProgress(long totalSteps, string title) : IProgress<StepMetrics>
{
    private readonly bool _interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
    private ProgressTask? _task;
    private StepMetrics? _first;   // the first report of this process (a resumed run starts part-way)

    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> with a live progress bar when interactive, plainly otherwise.</summary>
    public T Run<T>(Func<IProgress<StepMetrics>, T> work)
    {
        if (!_interactive) return work(this);
        return AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                _task = ctx.AddTask(title, maxValue: totalSteps);
                return work(this);
            });
    }

    public void Report(StepMetrics m)
    {
        string line = $"step {m.Step,6}/{totalSteps}  loss {m.Loss:F4}  contrast {m.Contrastive:F4}  recon {m.Reconstruction:F4}  " +
                      $"denoise {m.Denoise:F4}  top1 {m.ContrastiveTop1:P0}{(m.HasKnn ? $"  kNN {m.KnnTop1:P1}" : "")}  " +
                      $"lr {m.LearningRate:0.00e+00}  {m.ImagesPerSecond:F0} img/s  ETA {Eta(m)}";
        if (_task is null)
        {
            Console.WriteLine(line);
            return;
        }
        _task.Value = m.Step;
        _task.Description = $"{title}  loss {m.Loss:F3}  c {m.Contrastive:F3}  r {m.Reconstruction:F3}  d {m.Denoise:F3}" +
                            $"{(m.HasKnn ? $"  kNN {m.KnnTop1:P1}" : "")}  {m.ImagesPerSecond:F0} img/s";
    }

    private string Eta(StepMetrics m)
    {
        _first ??= m;
        long done = m.Step - _first.Step;
        if (done <= 0) return "?";
        double perStep = (m.ElapsedSeconds - _first.ElapsedSeconds) / done;
        return TimeSpan.FromSeconds(perStep * (totalSteps - m.Step)).ToString(@"hh\:mm\:ss");
    }
}
