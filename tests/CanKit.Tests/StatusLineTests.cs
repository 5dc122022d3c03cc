using CanKit.Ablation;
using CanKit.Cli;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The console reporter of long commands: plain lines without carriage returns and at most one status per interval when
/// output is redirected, one line rewritten in place on a terminal, log lines always on lines of their own and in order;
/// and ablate's status, whose run and suite times left follow from the step rate and the runs still to come.
/// </summary>
public sealed class StatusLineTests
{
    private sealed class Clock
    {
        public DateTime Now = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    }

    [Fact]
    public void RedirectedOutputGetsPlainThrottledLinesInOrder()
    {
        var (text, clock) = (new StringWriter(), new Clock());
        var console = new StatusLine(text, interactive: false, () => clock.Now) { PlainEvery = TimeSpan.FromSeconds(10) };
        console.Status("step 1");                       // the first status is written
        clock.Now += TimeSpan.FromSeconds(3);
        console.Status("step 2");                       // 3 s later: dropped
        console.Line("probe 40 %");
        clock.Now += TimeSpan.FromSeconds(8);
        console.Status("step 3");                       // 11 s after the last one written
        console.Status("step 4", final: true);          // the final status is always written
        console.Lines.Report("done");                   // on the reporting thread, so in order
        Assert.Equal("  step 1\nprobe 40 %\n  step 3\n  step 4\ndone\n", text.ToString().Replace("\r\n", "\n"));
        Assert.DoesNotContain('\r', text.ToString().Replace(Environment.NewLine, "\n"));
    }

    [Fact]
    public void ATerminalGetsOneLineRewrittenInPlaceThatLogLinesEnd()
    {
        var text = new StringWriter { NewLine = "\n" };
        var console = new StatusLine(text, interactive: true);
        console.Status("decoded 10/100");
        console.Status("decoded 9/9");                  // shorter: padded over the longer one
        console.Line("a log line");                     // ends the status line first
        console.Status("written 1/1", final: true);
        using (var w = console.Writer) w.Write("from a writer\nand a tail");
        Assert.Equal("\r  decoded 10/100\r  decoded 9/9   \na log line\n\r  written 1/1\nfrom a writer\nand a tail\n", text.ToString());
    }

    [Theory]
    [InlineData(0.0, "0:00:00")]
    [InlineData(3725.4, "1:02:05")]
    [InlineData(double.NaN, "?")]
    [InlineData(-1.0, "?")]
    public void DurationsReadAsHoursMinutesSeconds(double seconds, string expected) => Assert.Equal(expected, StatusLine.Duration(seconds));

    private static StepMetrics At(long step, double seconds) => new(step, 0, 1e-3, 1.5, 1, 0.3, 0.2, 0.5, 400, seconds);

    [Fact]
    public void AblateStatusProjectsTheRunAndTheSuiteFromTheStepRate()
    {
        var suite = new SuiteProgress(4);
        var progress = new AblateProgress(new StatusLine(TextWriter.Null, interactive: false), steps: 100, () => suite);
        suite.Before("mae", 0, reused: false);
        Assert.Contains("? left in the run", progress.Text(At(25, 10)));   // the run's first report: no rate yet
        // 25 more steps in 20 s: 0.8 s a step, 50 steps left → 40 s; the run's projected 0.8 × 100 = 80 s for each of
        // the 3 runs after it → 280 s in the suite.
        string s = progress.Text(At(50, 30));
        Assert.Contains("mae seed 0: step 50/100", s);
        Assert.Contains("0:00:40 left in the run, 0:04:40 in the suite · run 1/4", s);
        suite.After(reused: false, seconds: 120);
        suite.Before("simclr", 0, reused: false);
        // A new run restarts the rate (its first report); then 50 steps in 30 s: 0.6 s a step, 25 left → 15 s; the 2 runs
        // after it at the trained mean of 120 s → 255 s.
        progress.Text(At(25, 5));
        Assert.Contains("0:00:15 left in the run, 0:04:15 in the suite · run 2/4", progress.Text(At(75, 35)));
    }
}
