using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CanKit.Distributed;

/// <summary>How a group of local workers ended: exit code 0 when all succeeded; otherwise the first failing rank.</summary>
public sealed record LaunchResult(int ExitCode, int? FailedRank, string? Failure, IReadOnlyList<string> Outputs, IReadOnlyList<bool> Killed);

/// <summary>
/// torchrun for one machine: starts <c>nproc</c> copies of a command with MASTER_ADDR=127.0.0.1, a free MASTER_PORT,
/// RANK, LOCAL_RANK, WORLD_SIZE and LOCAL_WORLD_SIZE set (and OMP_NUM_THREADS = cores / nproc unless set), streams
/// rank 0's output, and fails when any worker fails:
/// the others get <c>grace</c> to notice (their collectives fail on the lost peer) and are then killed.
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

    /// <summary>
    /// The command line that starts this program again: the app host itself, or <c>dotnet app.dll</c> when running
    /// under the dotnet host.
    /// </summary>
    public static (string File, IReadOnlyList<string> Prefix) Self()
    {
        string exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this process's executable");
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
        {
            string dll = System.Reflection.Assembly.GetEntryAssembly()?.Location
                         ?? throw new InvalidOperationException("cannot tell this program's entry assembly");
            return (exe, [dll]);
        }
        return (exe, []);
    }

    /// <summary>
    /// Runs <paramref name="file"/> <paramref name="args"/> as ranks 0 … nproc − 1 and waits for all of them (at most
    /// <paramref name="timeout"/>; then every worker is killed and the exit code is 124).
    /// <paramref name="rank0Line"/> receives rank 0's output lines as they come (stdout and stderr).
    /// </summary>
    public static LaunchResult Run(string file, IReadOnlyList<string> args, int nproc, Action<string>? rank0Line = null,
                                   TimeSpan? timeout = null, TimeSpan? grace = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (nproc < 1) throw new ArgumentOutOfRangeException(nameof(nproc), nproc, "must be ≥ 1");
        var limit = timeout ?? Timeout.InfiniteTimeSpan;
        var graceTime = grace ?? TimeSpan.FromSeconds(10);
        int port = FreePort();
        var procs = new Process[nproc];
        var outputs = new StringBuilder[nproc];
        var killed = new bool[nproc];
        try
        {
            for (int r = 0; r < nproc; r++)
            {
                var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                foreach (var a in args) psi.ArgumentList.Add(a);
                // Like torchrun: split the cores between the workers unless the caller chose (oversubscribed
                // intra-op pools cost more than they give).
                if (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null)
                    psi.Environment["OMP_NUM_THREADS"] = Math.Max(1, Environment.ProcessorCount / nproc).ToString();
                foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
                psi.Environment["MASTER_ADDR"] = "127.0.0.1";
                psi.Environment["MASTER_PORT"] = port.ToString();
                psi.Environment["RANK"] = r.ToString();
                psi.Environment["LOCAL_RANK"] = r.ToString();
                psi.Environment["WORLD_SIZE"] = nproc.ToString();
                psi.Environment["LOCAL_WORLD_SIZE"] = nproc.ToString();
                var sb = outputs[r] = new StringBuilder();
                var p = procs[r] = new Process { StartInfo = psi };
                bool stream = r == 0 && rank0Line is not null;
                DataReceivedEventHandler onLine = (_, e) =>
                {
                    if (e.Data is null) return;
                    lock (sb) sb.AppendLine(e.Data);
                    if (stream) rank0Line!(e.Data);
                };
                p.OutputDataReceived += onLine;
                p.ErrorDataReceived += onLine;
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
                return Result(procs[f].ExitCode, f, $"rank {f} of {nproc} exited with code {procs[f].ExitCode}", outputs, killed);
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
