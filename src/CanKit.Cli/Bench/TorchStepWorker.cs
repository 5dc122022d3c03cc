using System.Diagnostics;
using System.Globalization;
using CanKit.Vision;

namespace CanKit.Cli.Bench;

/// <summary>
/// The PyTorch-eager CAN step (torch_can_step.py) kept alive in a child process and driven over stdin/stdout, so a
/// bench can alternate its repetitions with CanKit's in one run.
/// </summary>
internal sealed class TorchStepWorker : IDisposable
{
    /// <summary>Debian's python3, with python3-torch 1.13 where it is installed.</summary>
    public const string DebianPython = "/usr/bin/python3";

    private readonly Process _p;
    private readonly string _python;
    private readonly StderrTail _stderr;

    private TorchStepWorker(Process p, string python, StderrTail stderr)
    {
        _p = p;
        _python = python;
        _stderr = stderr;
    }

    /// <summary>The child's standard error, read as it comes (a full pipe would stall the child); keeps the last lines.</summary>
    private sealed class StderrTail
    {
        private readonly Queue<string> _lines = new();

        public void Add(string? line)
        {
            if (line is null) return;
            lock (_lines)
            {
                _lines.Enqueue(line);
                if (_lines.Count > 20) _lines.Dequeue();
            }
        }

        public string Last()
        {
            lock (_lines) return _lines.LastOrDefault(l => l.Trim().Length > 0)?.Trim() ?? "";
        }
    }

    /// <summary>
    /// Starts the worker: the CAN model of <paramref name="enc"/> and <paramref name="dec"/>, two views of
    /// <paramref name="batch"/> images on <paramref name="device"/> ("cpu", "cuda", "cuda:1"), precision "fp32" or
    /// "bf16" (autocast). <paramref name="configure"/> adjusts the child's environment.
    /// </summary>
    public static TorchStepWorker Start(string python, VitConfig enc, DecoderConfig dec, int batch, double mask, int threads,
                                        string device, string precision, Action<ProcessStartInfo>? configure = null)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "Bench", "torch_can_step.py");
        if (!File.Exists(script)) throw new FileNotFoundException($"{script} is missing from this build", script);
        var psi = new ProcessStartInfo(python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var inv = CultureInfo.InvariantCulture;
        string[] args =
        [
            script, batch.ToString(inv), enc.ImageSize.ToString(inv), enc.PatchSize.ToString(inv), enc.Width.ToString(inv), enc.Depth.ToString(inv),
            enc.Heads.ToString(inv), dec.Width.ToString(inv), dec.Depth.ToString(inv), dec.Heads.ToString(inv), mask.ToString(inv),
            threads.ToString(inv), device, precision,
        ];
        foreach (var a in args) psi.ArgumentList.Add(a);
        configure?.Invoke(psi);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new FileNotFoundException($"cannot start {python} for the PyTorch contender ({e.Message}); " +
                                            "run ./build.sh bench, which installs python3-torch", python);
        }
        var stderr = new StderrTail();
        p.ErrorDataReceived += (_, e) => stderr.Add(e.Data);
        p.BeginErrorReadLine();
        string? ready = p.StandardOutput.ReadLine();
        if (ready != "ready")
        {
            // The timed wait does not wait for the standard-error reader; the untimed one, after an exit, does.
            if (p.WaitForExit(5000)) p.WaitForExit();
            string err = stderr.Last();
            p.Dispose();
            throw new InvalidDataException($"the PyTorch worker ({python}) did not start ({ready ?? "no output"}): {err} " +
                                           "— on this machine ./build.sh bench installs python3-torch");
        }
        return new TorchStepWorker(p, python, stderr);
    }

    /// <summary>n steps timed one by one: the median ms per step and the peak memory in MB.</summary>
    public (double Ms, double PeakMb) Steps(int n) => Timed($"step {n}");

    /// <summary>n steps back to back, then a wait for the device: mean ms per step and peak memory in MB (CUDA
    /// memory allocated by tensors on a GPU, the process's RSS on the CPU).</summary>
    public (double Ms, double PeakMb) Run(int n) => Timed($"run {n}");

    /// <summary>PyTorch's version and the device's name.</summary>
    public (string Version, string DeviceName) Info()
    {
        string line = Request("info");
        var parts = line.Split(' ', 3);
        if (parts.Length < 3 || parts[0] != "info") throw new InvalidDataException($"the PyTorch worker answered '{line}' to info");
        return (parts[1], parts[2]);
    }

    private (double, double) Timed(string command)
    {
        string line = Request(command);
        var parts = line.Split(' ');
        var inv = CultureInfo.InvariantCulture;
        if (parts.Length != 3 || parts[0] != "ms" || !double.TryParse(parts[1], NumberStyles.Float, inv, out double ms) ||
            !double.TryParse(parts[2], NumberStyles.Float, inv, out double mb))
            throw new InvalidDataException($"the PyTorch worker answered '{line}' to '{command}'");
        return (ms, mb);
    }

    private string Request(string command)
    {
        _p.StandardInput.WriteLine(command);
        string? line = _p.StandardOutput.ReadLine();
        if (line is not null) return line;
        if (_p.WaitForExit(5000)) _p.WaitForExit();
        throw new InvalidDataException($"the PyTorch worker ({_python}) stopped: {_stderr.Last()}");
    }

    public void Dispose()
    {
        try
        {
            _p.StandardInput.WriteLine("quit");
            _p.WaitForExit(5000);
        }
        catch (IOException)
        {
        }
        if (!_p.HasExited) _p.Kill();
        _p.Dispose();
    }
}
