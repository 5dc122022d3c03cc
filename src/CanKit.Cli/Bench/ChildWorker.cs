using System.Diagnostics;
using System.Text.Json.Nodes;

namespace CanKit.Cli.Bench;

/// <summary>
/// A worker in a child process kept alive for the whole run, spoken to by one JSON object per line
/// (requests on stdin, replies on stdout; the protocol is described in torch_worker.py and served in C# by
/// <see cref="WorkerServer"/>). Thread environment variables must be set before a process starts, which is
/// why variants that differ in them each get their own child.
/// </summary>
public sealed class ChildWorker : IBenchWorker
{
    private readonly Process _p;
    private readonly Queue<string> _stderrTail = new();

    /// <param name="env">Variables to set in the child; a null value removes the variable.</param>
    public ChildWorker(string name, string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string?> env)
    {
        Name = name;
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env)
        {
            if (v is null) psi.Environment.Remove(k);
            else psi.Environment[k] = v;
        }
        _p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        _p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderrTail)
            {
                _stderrTail.Enqueue(e.Data);
                if (_stderrTail.Count > 20) _stderrTail.Dequeue();
            }
        };
        _p.BeginErrorReadLine();
    }

    /// <summary>A child running this same cankit program as <c>cankit bench worker</c>.</summary>
    public static ChildWorker CanKit(string name, IReadOnlyDictionary<string, string?> env)
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell which program is running");
        var args = new List<string>();
        // Run through `dotnet CanKit.Cli.dll` or through the apphost; start the child the same way.
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") args.Add(typeof(ChildWorker).Assembly.Location);
        args.AddRange(["bench", "worker"]);
        return new ChildWorker(name, host, args, env);
    }

    /// <summary>Debian's Python with python3-torch: the same libtorch .so files CanKit binds.</summary>
    public const string Python = "/usr/bin/python3";

    /// <summary>
    /// A child running torch_worker.py (copied beside the program) with Debian's Python. Fails with a clear
    /// message, on the first request, when Python or its torch module is missing.
    /// </summary>
    public static ChildWorker PyTorch(string name, IReadOnlyDictionary<string, string?> env)
    {
        const string Fix = "run ./build.sh bench, which installs python3-torch";
        if (!File.Exists(Python)) throw new InvalidOperationException($"{Python} is missing; {Fix}");
        string script = Path.Combine(AppContext.BaseDirectory, "torch_worker.py");
        if (!File.Exists(script)) throw new FileNotFoundException($"{script} is missing; rebuild src/CanKit.Cli", script);
        var w = new ChildWorker(name, Python, ["-u", script], env) { _hint = Fix };
        return w;
    }

    private string _hint = "";

    public string Name { get; }

    public WorkerInfo Info(int threads)
    {
        JsonObject r = Call(new JsonObject { ["op"] = "info", ["threads"] = threads });
        return new WorkerInfo((string)r["engine"]!, (int)r["threads"]!, (string)r["parallel_info"]!,
                              r["blas"]!.AsArray().Select(n => (string)n!).ToList());
    }

    public double Run(Workload w, int? threads = null)
    {
        var args = new JsonObject();
        foreach (var (k, v) in w.Args) args[k] = v;
        var req = new JsonObject { ["op"] = "run", ["name"] = w.Function, ["args"] = args };
        if (threads is int t) req["threads"] = t;
        return (double)Call(req)["value"]!;
    }

    private JsonObject Call(JsonObject request)
    {
        string? line;
        try
        {
            _p.StandardInput.WriteLine(request.ToJsonString());
            _p.StandardInput.Flush();
            line = _p.StandardOutput.ReadLine();
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"{Name} worker died: {e.Message}{StderrTail()}");
        }
        if (line is null) throw new InvalidOperationException($"{Name} worker exited without answering{StderrTail()}");
        var reply = JsonNode.Parse(line)!.AsObject();
        if (reply["error"] is JsonNode err)
        {
            string msg = (string)err!;
            if (msg.StartsWith("cannot import torch", StringComparison.Ordinal) && _hint.Length > 0) msg += $"; {_hint}";
            throw new InvalidOperationException($"{Name} worker: {msg}{StderrTail()}");
        }
        return reply;
    }

    private string StderrTail()
    {
        lock (_stderrTail)
            return _stderrTail.Count == 0 ? "" : "\n  worker stderr:\n    " + string.Join("\n    ", _stderrTail);
    }

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                _p.StandardInput.WriteLine("{\"op\":\"quit\"}");
                _p.StandardInput.Close();
                if (!_p.WaitForExit(5000)) _p.Kill();
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { }
        _p.Dispose();
    }
}
