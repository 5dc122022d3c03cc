using System.CommandLine;

namespace CanKit.Cli.Bench;

/// <summary>`cankit bench`: engine benchmarks measured side by side, in one run, reported as ratios.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "engine benchmarks, measured side by side with PyTorch or between settings");
        cmd.Subcommands.Add(EngineBench.Create());
        cmd.Subcommands.Add(ThreadsBench.Create());
        cmd.Subcommands.Add(StepBench.Create());
        cmd.Subcommands.Add(CudaStepBench.Create());
        cmd.Subcommands.Add(ProfileBench.Create());
        cmd.Subcommands.Add(AttentionBench.Create());
        cmd.Subcommands.Add(SettingBench.Create());
        cmd.Subcommands.Add(LoaderBench.Create());
        var worker = new Command("worker", "serve the bench line protocol on stdin/stdout (used by `bench threads`)") { Hidden = true };
        worker.SetAction(_ => WorkerServer.Serve(Console.In, Console.Out));
        cmd.Subcommands.Add(worker);
        // `./build.sh bench` with no subcommand runs the engine comparison with its defaults.
        cmd.SetAction(_ =>
        {
            Console.WriteLine("cankit bench engine (defaults; `cankit bench --help` lists the other benches)");
            return Guard(() => EngineBench.Run(7, Torch.NumThreads, quick: false, json: null, TimeSpan.FromMilliseconds(100)));
        });
        return cmd;
    }

    /// <summary>Options every bench subcommand shares.</summary>
    internal sealed class CommonOptions
    {
        public readonly Option<int?> Rounds = new("--rounds") { Description = "rounds of interleaved measurements (default 7, 3 with --quick)" };
        public readonly Option<bool> Quick = new("--quick") { Description = "small sizes: a smoke run in well under 30 s" };
        public readonly Option<FileInfo?> Json = new("--json") { Description = "also write the raw results to this JSON file" };
        public readonly Option<int> SettleMs = new("--settle-ms")
        {
            Description = "pause before each measurement so idle BLAS/OpenMP threads of the other side stop spinning",
            DefaultValueFactory = _ => 100,
        };

        public void AddTo(Command c)
        {
            c.Options.Add(Rounds);
            c.Options.Add(Quick);
            c.Options.Add(Json);
            c.Options.Add(SettleMs);
        }

        public int RoundsOf(ParseResult r)
        {
            int n = r.GetValue(Rounds) ?? (r.GetValue(Quick) ? 3 : 7);
            if (n < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {n})");
            return n;
        }
    }

    /// <summary>Runs a bench body, turning setup failures into a message and exit code 1 instead of a stack trace.</summary>
    internal static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FileNotFoundException)
        {
            Console.Error.WriteLine($"bench: {e.Message}");
            return 1;
        }
    }
}
