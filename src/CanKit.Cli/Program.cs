using System.CommandLine;
using System.CommandLine.Invocation;

namespace CanKit.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // The native pieces (OpenMP, TorchSharp's library, SkiaSharp's) are prepared before any command can reach torch.*
        // (the plain-TorchSharp bench does without CanKit's types). A failure has been printed by then and comes back as
        // a one-line error from the first command that needs TorchSharp; commands that do not (help, data) still run.
        try { Engine.EngineHost.Prepare(); }
        catch (Exception) { }
        var verbose = new Option<bool>("--verbose") { Description = "on an unexpected error (a bug), print its stack trace", Recursive = true };
        var root = new RootCommand("CanKit: self-supervised vision learning (CAN, CMAE) on TorchSharp") { verbose };
        root.Subcommands.Add(MainJobCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(RunCommands.Pretrain());
        root.Subcommands.Add(RunCommands.Probe());
        root.Subcommands.Add(RunCommands.Knn());
        root.Subcommands.Add(RunCommands.FineTuneCommand());
        root.Subcommands.Add(RunCommands.Losses());
        root.Subcommands.Add(RunCommands.Export());
        root.Subcommands.Add(AblateCommand.Create());
        root.Subcommands.Add(Bench.BenchCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(SelfTestCommand.Create());
        root.Subcommands.Add(NotebooksCommand.Create());
        var parse = root.Parse(args);
        Cli.Verbose = parse.GetValue(verbose);
        // Flag errors (unknown values, values out of the ranges the options declare) are one line each, exit code 2,
        // before any command runs.
        if (parse.Action is ParseErrorAction && parse.Errors.Count > 0 && parse.CommandResult.Command != root)
        {
            string help = $" (see cankit {string.Join(' ', Path(parse.CommandResult))} --help)";
            foreach (var e in parse.Errors)
                Console.Error.WriteLine(
                    $"error: {string.Join(' ', e.Message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))}{help}");
            return 2;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Cli.Report(e);   // what a command's own guard did not catch: still one line
        }
    }

    private static IEnumerable<string> Path(System.CommandLine.Parsing.CommandResult r) =>
        r.Parent is System.CommandLine.Parsing.CommandResult p && p.Parent is not null ? Path(p).Append(r.Command.Name) :
        r.Parent is null ? [] : [r.Command.Name];
}
