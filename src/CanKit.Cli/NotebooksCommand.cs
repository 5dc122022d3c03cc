using System.CommandLine;
using CanKit.Notebooks;

namespace CanKit.Cli;

/// <summary>`cankit notebooks run`: executes the course headless and writes executed notebooks and HTML pages.</summary>
internal static class NotebooksCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths")
        {
            Description = "notebooks to run (default: notebooks/*.ipynb in order)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var quick = new Option<bool>("--quick") { Description = "quick mode (also CANKIT_QUICK=1): each notebook in about 2 minutes on 2 cores" };
        var outDir = new Option<string>("--out") { Description = "folder for executed notebooks and HTML pages", DefaultValueFactory = _ => "runs/notebooks" };
        var run = new Command("run", "run notebooks headless (the .NET Interactive C# kernel, in process); exit code 1 if any cell fails")
            { paths, quick, outDir };
        run.SetAction(r => Cli.Guard(() =>
        {
            var list = r.GetValue(paths) is { Length: > 0 } given ? given
                : Directory.Exists("notebooks") ? Directory.GetFiles("notebooks", "*.ipynb").Order().ToArray()
                : throw new FileNotFoundException("no notebooks given and no notebooks/ folder here");
            bool q = r.GetValue(quick) || Environment.GetEnvironmentVariable("CANKIT_QUICK") == "1";
            int failed = 0;
            foreach (string p in list)
            {
                Console.WriteLine($"running {p}{(q ? " (quick)" : "")}");
                var res = NotebookRunner.RunAsync(p, r.GetValue(outDir)!, q, Console.Out).GetAwaiter().GetResult();
                foreach (var f in res.Failures) Console.Error.WriteLine($"error: {f}");
                Console.WriteLine($"{(res.Succeeded ? "ok" : "FAILED")}  {p} in {res.Elapsed.TotalSeconds:F1} s → {res.OutputNotebook}, {res.OutputHtml}");
                if (!res.Succeeded) failed++;
            }
            return failed == 0 ? 0 : 1;
        }));
        return new Command("notebooks", "the notebook course") { run };
    }
}
