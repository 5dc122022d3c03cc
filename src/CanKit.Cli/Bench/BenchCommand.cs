using System.CommandLine;

namespace CanKit.Cli.Bench;

/// <summary>`cankit bench`: benchmarks measured side by side in one run, reported as medians and ratios.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "benchmarks, measured side by side: " +
                                       "the CAN step (CanKit vs plain TorchSharp vs PyTorch), float32 vs bf16, " +
                                       "on a GPU, the input pipeline, data-parallel processes");
        cmd.Subcommands.Add(StepBench.Create());
        cmd.Subcommands.Add(PrecisionBench.Create());
        cmd.Subcommands.Add(CudaStepBench.Create());
        cmd.Subcommands.Add(LoaderBench.Create());
        cmd.Subcommands.Add(DataParallelBench.Create());
        cmd.Subcommands.Add(DataParallelBench.Worker());
        // `./build.sh bench` with no subcommand runs the CAN step comparison with its defaults.
        cmd.SetAction(r =>
        {
            Console.WriteLine("cankit bench step (defaults; `cankit bench --help` lists the other benches)");
            return StepBench.Create().Parse([]).Invoke();
        });
        return cmd;
    }
}
