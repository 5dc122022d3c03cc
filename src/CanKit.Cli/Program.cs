using System.CommandLine;

namespace CanKit.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("CanKit: self-supervised vision learning (CAN, CMAE) on libtorch");
        root.Subcommands.Add(MainJobCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(RunCommands.Pretrain());
        root.Subcommands.Add(RunCommands.Probe());
        root.Subcommands.Add(RunCommands.Knn());
        root.Subcommands.Add(RunCommands.FineTuneCommand());
        root.Subcommands.Add(RunCommands.Export());
        root.Subcommands.Add(AblateCommand.Create());
        root.Subcommands.Add(Bench.BenchCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        root.Subcommands.Add(NotebooksCommand.Create());
        return root.Parse(args).Invoke();
    }
}
