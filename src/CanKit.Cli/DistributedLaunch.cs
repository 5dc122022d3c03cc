using CanKit.Distributed;

namespace CanKit.Cli;

/// <summary>
/// `cankit pretrain --nproc N [--nnodes M --node-rank K --master-addr A --master-port P]`: re-runs the same command as
/// this machine's N workers (ranks K·N … K·N + N − 1 of M·N). Rank 0's standard output is shown as it is; every rank's
/// standard error comes prefixed with its rank. The first failing worker's exit code is returned.
/// </summary>
internal static class DistributedLaunch
{
    private static readonly string[] LauncherFlags = ["--nproc", "--nnodes", "--node-rank", "--master-addr", "--master-port"];

    public static int Launch(NodeLayout layout)
    {
        var (file, prefix) = LocalLauncher.Self();
        var args = prefix.Concat(WithoutLauncherFlags(Environment.GetCommandLineArgs().Skip(1))).ToList();
        int first = layout.NodeRank * layout.ProcessesPerNode;
        Console.WriteLine($"launching ranks {first}…{first + layout.ProcessesPerNode - 1} of {layout.WorldSize} (Gloo over TCP, rendezvous at " +
                          $"{layout.MasterAddress}:{(layout.MasterPort == 0 ? "a free port" : layout.MasterPort)}); rank {first}'s output follows");
        var gate = new object();
        // Ctrl-C reaches every worker too: they agree to stop after the same step and rank 0 saves; the launcher waits.
        ConsoleCancelEventHandler onCancel = (_, e) => e.Cancel = true;
        Console.CancelKeyPress += onCancel;
        LaunchResult result;
        try
        {
            result = LocalLauncher.Run(file, args, layout, (local, error, line) =>
            {
                lock (gate)
                {
                    if (error) Console.Error.WriteLine($"[rank {first + local}] {line}");
                    else if (local == 0) Console.WriteLine(line);
                }
            });
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
        if (result.ExitCode is 0 or 130) return result.ExitCode;   // 130: interrupted, the workers said so
        Console.Error.WriteLine($"error: {result.Failure}");
        return result.ExitCode;
    }

    // The workers run the same command without the launcher's flags (WORLD_SIZE in their environment makes them workers).
    internal static IEnumerable<string> WithoutLauncherFlags(IEnumerable<string> args)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            if (LauncherFlags.Contains(a)) { e.MoveNext(); continue; }
            if (LauncherFlags.Any(f => a.StartsWith(f + "=", StringComparison.Ordinal))) continue;
            yield return a;
        }
    }
}
