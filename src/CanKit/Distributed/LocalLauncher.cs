using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace CanKit.Distributed;

/// <summary>How a group of local workers ended: exit code 0 when all succeeded; otherwise the first failing rank's.</summary>
public sealed record LaunchResult(int ExitCode, int? FailedRank, string? Failure, IReadOnlyList<string> Outputs, IReadOnlyList<bool> Killed);

/// <summary>Where this machine's workers sit in the whole group (torchrun's --nnodes/--node-rank/--master-addr/--master-port).</summary>
public sealed record NodeLayout(int ProcessesPerNode, int Nodes = 1, int NodeRank = 0, string MasterAddress = "127.0.0.1", int MasterPort = 0)
{
    public int WorldSize => ProcessesPerNode * Nodes;

    /// <summary>Checks the layout; <paramref name="flag"/> turns a field into the flag a user typed.</summary>
    public NodeLayout Validate(Func<string, string>? flag = null)
    {
        flag ??= f => f;
        if (ProcessesPerNode < 1)
            throw new ArgumentException($"{flag(nameof(ProcessesPerNode))}: must be ≥ 1, got {ProcessesPerNode}", nameof(ProcessesPerNode));
        if (Nodes < 1) throw new ArgumentException($"{flag(nameof(Nodes))}: must be ≥ 1, got {Nodes}", nameof(Nodes));
        if (NodeRank < 0 || NodeRank >= Nodes) throw new ArgumentException($"{flag(nameof(NodeRank))}: {NodeRank} is outside [0, {Nodes})", nameof(NodeRank));
        if (MasterPort is < 0 or > 65535) throw new ArgumentException($"{flag(nameof(MasterPort))}: {MasterPort} is outside 1…65535", nameof(MasterPort));
        if (Nodes > 1 && MasterPort == 0)
            throw new ArgumentException($"{flag(nameof(MasterPort))}: needed with several nodes (the same free port on every node)",
                                        nameof(MasterPort));
        if (string.IsNullOrWhiteSpace(MasterAddress)) throw new ArgumentException($"{flag(nameof(MasterAddress))}: missing", nameof(MasterAddress));
        return this;
    }
}

/// <summary>
/// torchrun for one machine: starts this node's workers with MASTER_ADDR, MASTER_PORT, RANK, LOCAL_RANK, WORLD_SIZE and
/// LOCAL_WORLD_SIZE set (and OMP_NUM_THREADS = cores / workers unless set), hands every output line to a callback, and
/// fails when any worker fails: the others get <c>grace</c> to notice (their collectives fail on the lost peer) and
/// are then killed.
/// </summary>
public static class LocalLauncher
{
    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>The command line that starts this program again: the app host, or <c>dotnet app.dll</c> under the dotnet host.</summary>
    public static (string File, IReadOnlyList<string> Prefix) Self()
    {
        string exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this process's executable");
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            string dll = System.Reflection.Assembly.GetEntryAssembly()?.Location is { Length: > 0 } l ? l
                : throw new InvalidOperationException("cannot tell this program's entry assembly");
            return (exe, [dll]);
        }
        return (exe, []);
    }

    /// <summary>
    /// Runs <paramref name="file"/> <paramref name="args"/> as this node's ranks and waits for all of them (at most
    /// <paramref name="timeout"/>; then every worker is killed and the exit code is 124). <paramref name="onLine"/>
    /// receives (local rank, is standard error, line) as lines come.
    /// </summary>
    public static LaunchResult Run(string file, IReadOnlyList<string> args, NodeLayout layout, Action<int, bool, string>? onLine = null,
                                   TimeSpan? timeout = null, TimeSpan? grace = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        layout.Validate();
        int nproc = layout.ProcessesPerNode;
        var limit = timeout ?? Timeout.InfiniteTimeSpan;
        var graceTime = grace ?? TimeSpan.FromSeconds(10);
        int port = layout.MasterPort == 0 ? FreePort() : layout.MasterPort;
        var procs = new Process[nproc];
        var outputs = new StringBuilder[nproc];
        var killed = new bool[nproc];
        // A launcher stopped by SIGTERM or SIGHUP takes its workers with it (its own finally would not run).
        void KillAll(PosixSignalContext _) { foreach (var p in procs) if (p is not null) Kill(p); }
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, KillAll);
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, KillAll);
        try
        {
            for (int r = 0; r < nproc; r++)
            {
                var psi = StartInfo(file, args, layout, r, port, environment);
                var sb = outputs[r] = new StringBuilder();
                var p = procs[r] = new Process { StartInfo = psi };
                int rank = r;
                DataReceivedEventHandler Handler(bool error) => (_, e) =>
                {
                    if (e.Data is null) return;
                    lock (sb) sb.AppendLine(e.Data);
                    onLine?.Invoke(rank, error, e.Data);
                };
                p.OutputDataReceived += Handler(false);
                p.ErrorDataReceived += Handler(true);
                p.Start();
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
            }

            var clock = Stopwatch.StartNew();
            int? failed = null;
            TimeSpan failedAt = TimeSpan.Zero;
            while (true)
            {
                bool allDone = true;
                for (int r = 0; r < nproc; r++)
                {
                    if (!procs[r].HasExited) { allDone = false; continue; }
                    if (failed is null && procs[r].ExitCode != 0) (failed, failedAt) = (r, clock.Elapsed);
                }
                if (allDone) break;
                bool overTime = limit != Timeout.InfiniteTimeSpan && clock.Elapsed > limit;
                if (overTime || (failed is not null && clock.Elapsed - failedAt > graceTime))
                {
                    for (int r = 0; r < nproc; r++) killed[r] = Kill(procs[r]);
                    foreach (var p in procs) p.WaitForExit();
                    if (overTime && failed is null)
                        return Result(124, null, $"the workers did not finish within {limit.TotalSeconds:F0} s and were stopped", outputs, killed);
                    break;
                }
                Thread.Sleep(50);
            }
            foreach (var p in procs) p.WaitForExit();   // drains the output readers
            if (failed is int f)
                return Result(procs[f].ExitCode, f,
                              $"rank {layout.NodeRank * nproc + f} of {layout.WorldSize} exited with code {procs[f].ExitCode}",
                              outputs, killed);
            return Result(0, null, null, outputs, killed);
        }
        finally
        {
            foreach (var p in procs)
            {
                if (p is null) continue;
                Kill(p);
                p.Dispose();
            }
        }
    }

    /// <summary>
    /// Starts this node's ranks and returns them running, standard input, output and error redirected, for a caller that
    /// talks to its workers (a benchmark driving rounds); the caller waits for and disposes them.
    /// </summary>
    public static Process[] Start(string file, IReadOnlyList<string> args, NodeLayout layout, IReadOnlyDictionary<string, string>? environment = null)
    {
        layout.Validate();
        int port = layout.MasterPort == 0 ? FreePort() : layout.MasterPort;
        var procs = new List<Process>();
        try
        {
            for (int r = 0; r < layout.ProcessesPerNode; r++)
            {
                var psi = StartInfo(file, args, layout, r, port, environment);
                psi.RedirectStandardInput = true;
                procs.Add(Process.Start(psi)!);
            }
            return procs.ToArray();
        }
        catch
        {
            foreach (var p in procs) { Kill(p); p.Dispose(); }
            throw;
        }
    }

    private static ProcessStartInfo StartInfo(string file, IReadOnlyList<string> args, NodeLayout layout,
                                              int localRank, int port, IReadOnlyDictionary<string, string>? environment)
    {
        static string S(int v) => v.ToString(CultureInfo.InvariantCulture);
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        // Like torchrun: split the cores between the workers unless the caller chose (oversubscribed intra-op pools
        // cost more than they give).
        if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null)
            psi.Environment["OMP_NUM_THREADS"] = S(Math.Max(1, Environment.ProcessorCount / layout.ProcessesPerNode));
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        psi.Environment["MASTER_ADDR"] = layout.MasterAddress;
        psi.Environment["MASTER_PORT"] = S(port);
        psi.Environment["RANK"] = S(layout.NodeRank * layout.ProcessesPerNode + localRank);
        psi.Environment["LOCAL_RANK"] = S(localRank);
        psi.Environment["WORLD_SIZE"] = S(layout.WorldSize);
        psi.Environment["LOCAL_WORLD_SIZE"] = S(layout.ProcessesPerNode);
        return psi;
    }

    private static bool Kill(Process p)
    {
        try
        {
            if (p.HasExited) return false;
            p.Kill(entireProcessTree: true);
            return true;
        }
        catch (InvalidOperationException) { return false; }
    }

    private static LaunchResult Result(int code, int? rank, string? failure, StringBuilder[] outputs, bool[] killed) =>
        new(code, rank, failure, outputs.Select(sb => { lock (sb) return sb.ToString(); }).ToList(), killed);
}
