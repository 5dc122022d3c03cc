using System.CommandLine;

namespace CanKit.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("CanKit: self-supervised vision learning (CAN, CMAE) on libtorch");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(Bench.BenchCommand.Create());
        return root.Parse(args).Invoke();
    }
}
