using System.Globalization;

namespace CanKit.Cli;

/// <summary>
/// The console reporter of every long command: log lines in the order they are reported (on the reporting thread, under
/// a lock — <see cref="Progress{T}"/> would post them to the thread pool, out of order), and a status line saying what is
/// being done, how far it is and what is left. On a terminal the status is one line rewritten in place; when output is
/// redirected (CI, logs, pipes) it is a plain line, at most one per <see cref="PlainEvery"/> besides the final one, so
/// logs hold no carriage returns and stay short.
/// </summary>
internal sealed class StatusLine(TextWriter output, bool interactive, Func<DateTime>? clock = null)
{
    private readonly object _gate = new();
    private readonly Func<DateTime> _now = clock ?? (() => DateTime.UtcNow);
    private int _shownLength;          // the in-place line's length (0: none on screen)
    private DateTime _lastPlain = DateTime.MinValue;

    /// <summary>The console's reporter: in place on a terminal, plain lines when output is redirected.</summary>
    public static StatusLine ForConsole() => new(Console.Out, ConsoleProgress.Interactive);

    /// <summary>The least time between two plain status lines (the final one is always written).</summary>
    public TimeSpan PlainEvery { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A log line, on a line of its own (after the status line, which it ends).</summary>
    public void Line(string text)
    {
        lock (_gate)
        {
            EndStatus();
            output.WriteLine(text);
        }
    }

    /// <summary>
    /// The status: replaces the one shown on a terminal; a plain line when redirected if <see cref="PlainEvery"/> has passed
    /// since the last one or <paramref name="final"/> (the work is done, and the line ends).
    /// </summary>
    public void Status(string text, bool final = false)
    {
        lock (_gate)
        {
            if (interactive)
            {
                output.Write("\r  " + text.PadRight(_shownLength));
                _shownLength = text.Length;
                if (final) EndStatus();
                return;
            }
            var now = _now();
            if (!final && now - _lastPlain < PlainEvery) return;
            _lastPlain = now;
            output.WriteLine("  " + text);
        }
    }

    /// <summary>Ends the in-place status line so the next output starts on a line of its own.</summary>
    public void EndStatus()
    {
        lock (_gate)
        {
            if (_shownLength == 0) return;
            output.WriteLine();
            _shownLength = 0;
        }
    }

    /// <summary>Log lines as an <see cref="IProgress{T}"/> (reported in order, on the reporting thread).</summary>
    public IProgress<string> Lines => new Reporter<string>(Line);

    /// <summary>Log lines as a <see cref="TextWriter"/> (for code that logs to a writer); each line goes through <see cref="Line"/>.</summary>
    public TextWriter Writer => new LineWriter(this);

    /// <summary>An <see cref="IProgress{T}"/> that shows each value as the status (<paramref name="final"/>: the last one).</summary>
    public IProgress<T> StatusOf<T>(Func<T, string> text, Func<T, bool> final) => new Reporter<T>(v => Status(text(v), final(v)));

    /// <summary>"h:mm:ss" for a number of seconds; "?" when it is not known yet.</summary>
    public static string Duration(double? seconds) =>
        seconds is { } s && double.IsFinite(s) && s >= 0 ? TimeSpan.FromSeconds(Math.Round(s)).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "?";

    private sealed class LineWriter(StatusLine console) : TextWriter
    {
        private readonly System.Text.StringBuilder _partial = new();
        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                console.Line(_partial.ToString().TrimEnd('\r'));
                _partial.Clear();
            }
            else _partial.Append(value);
        }

        protected override void Dispose(bool disposing)
        {
            if (_partial.Length > 0) console.Line(_partial.ToString());
            _partial.Clear();
            base.Dispose(disposing);
        }
    }

    private sealed class Reporter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
