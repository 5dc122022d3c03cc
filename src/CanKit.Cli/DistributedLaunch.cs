using CanKit.Distributed;

namespace CanKit.Cli;

/// <summary>`cankit pretrain --nproc N`: re-runs the same command as N local workers (ranks) and reports the first failure.</summary>
internal static class DistributedLaunch
{
    public static int Launch(int nproc)
    {
        var (file, prefix) = LocalLauncher.Self();
        var args = prefix.Concat(WithoutNproc(Environment.GetCommandLineArgs().Skip(1))).ToList();
        Console.WriteLine($"launching {nproc} workers on 127.0.0.1 (Gloo on CPU, NCCL on CUDA); rank 0's output follows");
        var result = LocalLauncher.Run(file, args, nproc, line => Console.WriteLine(line));
        if (result.ExitCode == 0) return 0;
        Console.Error.WriteLine($"error: {result.Failure}");
        if (result.FailedRank is int r && r != 0)
        {
            var tail = result.Outputs[r].Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(20);
            Console.Error.WriteLine($"last lines of rank {r}:");
            foreach (var line in tail) Console.Error.WriteLine("  " + line.TrimEnd());
        }
        return result.ExitCode;
    }

    // The workers run the same command without --nproc (WORLD_SIZE in their environment makes them workers).
    private static IEnumerable<string> WithoutNproc(IEnumerable<string> args)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            if (e.Current == "--nproc") { e.MoveNext(); continue; }
            if (e.Current.StartsWith("--nproc=", StringComparison.Ordinal)) continue;
            yield return e.Current;
        }
    }
}
