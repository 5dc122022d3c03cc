using System.Text.RegularExpressions;
using CanKit.Distributed;
using CanKit.Training;

namespace CanKit.Cli;

/// <summary>
/// Shared command-line plumbing: device parsing, and the one place that turns errors into messages. The policy:
/// every expected failure (a bad flag, file, field or network answer) is one "error:" line naming it, exit code 2 for
/// flags and 1 for the rest; anything else is a bug, reported as one line too (exit code 70), with its stack trace
/// only under <c>--verbose</c>.
/// </summary>
internal static class Cli
{
    private static readonly Regex DeviceText = new(@"^(cpu|cuda)(:(\d+))?$", RegexOptions.CultureInvariant);

    /// <summary>Exit code of an unexpected error (a bug): EX_SOFTWARE of sysexits.h.</summary>
    public const int InternalError = 70;

    /// <summary>Set from <c>--verbose</c> for this invocation: print the stack trace of an unexpected error.</summary>
    public static bool Verbose { get; set; }

    /// <summary>
    /// "cpu", "cuda" or "cuda:N" as a TorchSharp device; CUDA only where TorchSharp sees a GPU (a CUDA build of
    /// TorchSharp and a driver), else a one-line error naming the flag.
    /// </summary>
    public static Device ParseDevice(string s, string flag = "--device")
    {
        var m = DeviceText.Match(s.Trim().ToLowerInvariant());
        if (!m.Success) throw new ArgumentException($"{flag} {s}: expected cpu, cuda or cuda:N");
        if (m.Groups[1].Value == "cpu")
        {
            if (m.Groups[3].Success && m.Groups[3].Value != "0") throw new ArgumentException($"{flag} {s}: there is one CPU device (cpu)");
            return torch.CPU;
        }
        if (!torch.cuda.is_available())
            throw new ArgumentException($"{flag} {s}: CUDA is not available " +
                                        "(TorchSharp sees no GPU: this build uses TorchSharp-cpu, or no driver; see environment.md)");
        if (!int.TryParse(m.Groups[3].Success ? m.Groups[3].Value : "0", System.Globalization.NumberStyles.None,
                          System.Globalization.CultureInfo.InvariantCulture, out int index))
            throw new ArgumentException($"{flag} {s}: the device index is too large");
        int count = torch.cuda.device_count();
        if (index >= count) throw new ArgumentException($"{flag} {s}: there {(count == 1 ? "is 1 GPU" : $"are {count} GPUs")} (cuda:0…cuda:{count - 1})");
        return torch.device(DeviceType.CUDA, index);
    }

    /// <summary>The engine for headers of runs and benchmarks: "TorchSharp 0.107.0 (LibTorch 2.10.0)".</summary>
    public static string EngineVersion =>
        $"TorchSharp {typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "?"} " +
        $"(LibTorch {(Version.TryParse(torch.__version__, out var v) ? v.ToString(3) : torch.__version__)})";

    /// <summary>A device as users write it: "cpu", "cuda:0".</summary>
    public static string DeviceName(Device d) => d.type == DeviceType.CPU ? "cpu" : $"{d.type.ToString().ToLowerInvariant()}:{Math.Max(0, d.index)}";

    /// <summary>
    /// Runs <paramref name="body"/> with a token that Ctrl-C cancels (printing <paramref name="notice"/> unless null) instead of ending
    /// the process, so a run stops at its next step with a checkpoint.
    /// </summary>
    public static T UntilCtrlC<T>(string? notice, Func<CancellationToken, T> body)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
            if (notice is not null) Console.Error.WriteLine(notice);
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return body(cts.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>
    /// Runs a command body. Errors become one line (see <see cref="Report"/>); an <see cref="ArgumentException"/> whose
    /// parameter is a key of <paramref name="flags"/> (a library argument such as <c>k</c>) is reported under its flag.
    /// </summary>
    public static int Guard(Func<int> body, IReadOnlyDictionary<string, string>? flags = null)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Report(e, flags);
        }
    }

    /// <inheritdoc cref="Guard(Func{int}, IReadOnlyDictionary{string, string}?)"/>
    public static async Task<int> GuardAsync(Func<Task<int>> body, IReadOnlyDictionary<string, string>? flags = null)
    {
        try
        {
            return await body();
        }
        catch (Exception e)
        {
            return Report(e, flags);
        }
    }

    /// <summary>Prints <paramref name="e"/> as one "error:" line on standard error and returns the exit code.</summary>
    public static int Report(Exception e, IReadOnlyDictionary<string, string>? flags = null)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && e.InnerException is not null)
            e = e.InnerException!;
        switch (e)
        {
            case ArgumentException a:
                string message = Clean(a);
                if (a.ParamName is { } p && flags?.TryGetValue(p, out var flag) == true && !message.StartsWith(flag, StringComparison.Ordinal))
                    message = $"{flag}: {(message.StartsWith($"{p}: ", StringComparison.Ordinal) ? message[(p.Length + 2)..] : message)}";
                Console.Error.WriteLine($"error: {message}");
                return 2;
            case OperationCanceledException:
                Console.Error.WriteLine("error: cancelled");
                return 130;
            case IOException or UnauthorizedAccessException or InvalidDataException or NonFiniteLossException or NotSupportedException
                 or HttpRequestException or TimeoutException or System.Runtime.InteropServices.ExternalException:
                Console.Error.WriteLine($"error: {FirstLine(e.Message)}");
                return 1;
            case TypeInitializationException t when t.TypeName?.StartsWith("TorchSharp", StringComparison.Ordinal) == true:
                Console.Error.WriteLine($"error: TorchSharp could not load its native library: " +
                                        $"{FirstLine(t.InnerException?.Message ?? t.Message)} (see environment.md)");
                return 1;
            default:
                Console.Error.WriteLine($"error: internal error: {e.GetType().Name}: {FirstLine(e.Message)}" +
                                        (Verbose ? "" : " (a bug in cankit; run again with --verbose for the stack trace)"));
                if (Verbose) Console.Error.WriteLine(e);
                return InternalError;
        }
    }

    /// <summary>An argument error's text without .NET's " (Parameter 'x')" and "Actual value was" additions.</summary>
    private static string Clean(ArgumentException e)
    {
        string m = FirstLine(e.Message);
        if (e.ParamName is { } p && m.EndsWith($" (Parameter '{p}')", StringComparison.Ordinal)) m = m[..^$" (Parameter '{p}')".Length];
        return m;
    }

    // libtorch's messages carry a C++ backtrace after the first line.
    private static string FirstLine(string message)
    {
        int nl = message.IndexOf('\n');
        return (nl < 0 ? message : message[..nl]).TrimEnd();
    }
}
