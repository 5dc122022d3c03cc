using System.CommandLine;

namespace CanKit.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // TorchSharp's native library is prepared before any command can reach torch.* (the plain-TorchSharp bench
        // does without CanKit's types). A failure has been printed by then and comes back as a one-line error from
        // the first command that needs TorchSharp; commands that do not (help, data) still run.
        try { Engine.TorchSharpLoader.EnsureLoaded(); }
        catch (Exception) { }
        var root = new RootCommand("CanKit: self-supervised vision learning (CAN, CMAE) on TorchSharp");
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
