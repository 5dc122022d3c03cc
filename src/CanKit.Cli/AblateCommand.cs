using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Training;

namespace CanKit.Cli;

/// <summary>
/// `cankit ablate --table NAME`: the named ablation tables (<see cref="AblationTables"/>) over several seeds, each
/// (row, seed) pre-trained into its own folder and probed; writes tables.csv, budget.csv, runs.csv and ablation.md with
/// each row's mean, standard deviation and 95 % Student-t interval and each claim's verdict. Resumable (see
/// <see cref="AblationRunner"/>).
/// </summary>
internal static class AblateCommand
{
    /// <summary>The flag of each settings field, for errors that name a field.</summary>
    private static readonly IReadOnlyDictionary<string, string> Flags = new Dictionary<string, string>(RunCommands.Flags)
    {
        [nameof(AblationSettings.Seeds)] = "--seeds", [nameof(AblationSettings.EvalSubset)] = "--eval-subset",
        [nameof(AblationSettings.ProbeEpochs)] = "--probe-epochs", [nameof(AblationSettings.K)] = "--k", ["name"] = "--table",
        [nameof(RunSpec.Decoder)] = "--decoder-width", [nameof(AblationSettings.DecoderWidth)] = "--decoder-width",
        [nameof(AblationSettings.DecoderDepth)] = "--decoder-depth",
    };

    public static Command Create()
    {
        var d = new AblationSettings();
        var tables = new Option<string[]>("--table")
        {
            Description = $"tables to run, or all ({string.Join(", ", AblationTables.All.Select(t => t.Name))})",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => ["can-components"],
        };
        var seeds = new Option<int>("--seeds") { Description = "seeds per row (≥ 2: the 95 % interval needs two)", DefaultValueFactory = _ => d.Seeds };
        var data = new Option<string>("--data") { Description = "fashion-mnist, cifar10 or cifar100", DefaultValueFactory = _ => d.Dataset };
        var root = new Option<string?>("--data-root") { Description = "dataset folder" };
        var steps = new Option<long>("--steps") { Description = "pre-training steps per run (the budget)", DefaultValueFactory = _ => d.Steps };
        var batch = new Option<int>("--batch") { Description = "images per step", DefaultValueFactory = _ => d.Batch };
        var width = new Option<int>("--width") { Description = "encoder width", DefaultValueFactory = _ => d.Width };
        var depth = new Option<int>("--depth") { Description = "encoder blocks", DefaultValueFactory = _ => d.Depth };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => d.Heads };
        var patch = new Option<int>("--patch") { Description = "patch size", DefaultValueFactory = _ => d.PatchSize };
        var subset = new Option<int>("--train-subset")
        {
            Description = "pre-train on the first N training images (0: all)",
            DefaultValueFactory = _ => d.TrainSubset,
        };
        var evalSubset = new Option<int>("--eval-subset")
        {
            Description = "probe on the first N training and N/6 test images (0: all)",
            DefaultValueFactory = _ => d.EvalSubset,
        };
        var epochs = new Option<int>("--probe-epochs") { Description = "linear-probe epochs", DefaultValueFactory = _ => d.ProbeEpochs }.AtLeast(1);
        var decWidth = new Option<int>("--decoder-width") { Description = "pixel decoder width (CAN, MAE, CMAE)", DefaultValueFactory = _ => d.DecoderWidth };
        var decDepth = new Option<int>("--decoder-depth") { Description = "pixel decoder blocks", DefaultValueFactory = _ => d.DecoderDepth };
        var precision = RunCommands.PrecisionOpt();
        var budget = new Option<bool>("--budget-study")
        {
            Description = "probe the checkpoints at 1/4 and 1/2 of the budget too (can-components)",
            DefaultValueFactory = _ => true,
        };
        var outDir = new Option<string>("--out") { Description = "folder for the runs and the tables", DefaultValueFactory = _ => "runs/ablate" }.NotAFile();
        var board = RunCommands.TensorBoardOpt("each run's training curves (a sub-folder per run: ROW/seed-S)");
        var list = new Option<bool>("--list") { Description = "list the tables, their rows and claims, and exit" };
        var userRows = new Option<string?>("--rows")
        {
            Description = "a table of your own rows (JSON: registered rows by name, or a method with CAN settings; docs/methods.md); " +
                          "runs alone unless --table is given too",
            HelpName = "FILE",
        };
        var cmd = new Command("ablate", "run ablation tables over seeds: mean, sd and 95 % interval per row, and the papers' claims judged")
            {
                tables, seeds, data, root, steps, batch, width, depth, heads, patch, decWidth, decDepth, subset, evalSubset, epochs,
                precision, budget, outDir, board, list, userRows,
            };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            if (r.GetValue(list))
            {
                foreach (var t in AblationTables.All)
                {
                    Console.WriteLine($"{t.Name}: {t.Title}");
                    foreach (var row in t.Rows) Console.WriteLine($"  {row.Name,-28} {row.Kind}");
                    foreach (var c in t.Claims) Console.WriteLine($"  claim {c.Id}: {c.Text} ({c.Better} vs {c.Worse})");
                }
                return 0;
            }
            var chosen = Chosen(r.GetValue(tables) ?? []);
            IReadOnlyList<UserRow> defined = [];
            if (r.GetValue(userRows) is { } rowsFile)
            {
                (var table, defined) = Load(rowsFile);
                var others = r.GetResult(tables) is { Implicit: false } ? chosen : [];
                if (others.Any(t => t.Name == table.Name)) throw new ArgumentException($"--rows {rowsFile}: table '{table.Name}' is a registered table's name");
                chosen = [.. others, table];
            }
            var settings = new AblationSettings
            {
                UserRows = defined,
                Dataset = r.GetValue(data)!, DataRoot = r.GetValue(root), Width = r.GetValue(width), Depth = r.GetValue(depth), Heads = r.GetValue(heads),
                PatchSize = r.GetValue(patch), Batch = r.GetValue(batch), DecoderWidth = r.GetValue(decWidth),
                DecoderDepth = r.GetValue(decDepth), Steps = r.GetValue(steps), TrainSubset = r.GetValue(subset),
                EvalSubset = r.GetValue(evalSubset), ProbeEpochs = r.GetValue(epochs), Seeds = r.GetValue(seeds), BudgetStudy = r.GetValue(budget),
                Precision = ResolvePrecision(r.GetValue(precision)!),
            }.Validate();
            // Every run's flags are checked before the first one starts, so a bad flag never leaves a half-made suite.
            foreach (var row in chosen.SelectMany(t => t.Rows)) RunCommands.Validate(settings.Spec(row, 0));
            return Run(chosen, settings, r.GetValue(outDir)!, r.GetValue(board));
        }, Flags));
        return cmd;
    }

    /// <summary>
    /// --precision for a suite on the CPU. A suite folder's runs keep the precision they were trained in: a different one
    /// is refused by the config check, naming the folder and the differing line.
    /// </summary>
    private static Vision.Precision ResolvePrecision(string flag)
    {
        try { return Vision.PrecisionPolicy.Parse(flag, torch.CPU); }
        catch (ArgumentException e) { throw new ArgumentException($"--precision: {e.Message}"); }
    }

    // A rows file's errors are flag errors: one line naming the file and the field.
    private static (AblationTable, IReadOnlyList<UserRow>) Load(string file)
    {
        try { return AblationRowsFile.Load(file); }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException) { throw new ArgumentException($"--rows: {e.Message}", e); }
    }

    /// <summary>The tables named by --table (comma-separated or repeated; "all" for every table).</summary>
    internal static IReadOnlyList<AblationTable> Chosen(IEnumerable<string> names)
    {
        var split = names.SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (split.Count == 0) throw new ArgumentException("--table: name at least one table (see --list)");
        if (split.Contains("all")) return AblationTables.All;
        var unknown = split.Where(n => AblationTables.All.All(t => t.Name != n)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"--table: unknown table {string.Join(", ", unknown)} " +
                                        $"(expected all or {string.Join(", ", AblationTables.All.Select(t => t.Name))})");
        return split.Distinct().Select(AblationTables.Get).ToList();
    }

    private static int Run(IReadOnlyList<AblationTable> tables, AblationSettings settings, string outDir, string? tensorBoard)
    {
        return Cli.UntilCtrlC("interrupt: stopping this run at its next step with a checkpoint; the same command resumes the suite", cancel =>
        {
            var clock = Stopwatch.StartNew();
            AblationRunner? runner = null;
            var progress = new AblateProgress(StatusLine.ForConsole(), settings.Steps, () => runner?.Suite);
            runner = new AblationRunner(settings, outDir, torch.CPU, progress.Line) { TensorBoard = tensorBoard, StepProgress = progress };
            var results = runner.Run(tables, cancel);
            Write(tables, settings, runner, results, outDir, clock.Elapsed);
            return 0;
        });
    }

    private static void Write(IReadOnlyList<AblationTable> tables, AblationSettings s, AblationRunner runner,
                              IReadOnlyList<AblationRunResult> results, string outDir, TimeSpan wall)
    {
        var inv = CultureInfo.InvariantCulture;
        var finals = tables.SelectMany(t => AblationReport.Summarise(t, results, s, runner.Encoder, s.Steps)
                                                   .Prepend(AblationReport.PixelsRow(t, results, s.Steps))).ToList();
        var md = new StringBuilder("# Ablation tables\n\n");
        md.Append(string.Create(inv,
            $"- command: `cankit {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}`\n" +
            $"- commit: {Commit()}\n" +
            $"- date: {DateTime.UtcNow:yyyy-MM-dd} (UTC, when the tables were written); {Cli.EngineVersion}, .NET {Environment.Version}\n" +
            $"- CPU: {Engine.CpuFeatures.Model}, {Environment.ProcessorCount} logical CPUs visible; " +
            $"torch intra-op threads {torch.get_num_threads()}, " +
            $"OMP_NUM_THREADS={Environment.GetEnvironmentVariable("OMP_NUM_THREADS") ?? "unset"}\n" +
            $"- wall time of this invocation: {wall.TotalMinutes:F1} min (runs reused from an earlier invocation cost nothing here)\n" +
            $"- scale: {s.Dataset}, ViT {s.Width}×{s.Depth} ({s.Heads} heads, patch {s.PatchSize}), " +
            $"decoder {s.DecoderWidth}×{s.DecoderDepth}, " +
            $"batch {s.Batch}, {s.Steps} steps (warm-up 5 %, then constant), {(s.Precision == Vision.Precision.BFloat16 ? "bf16 products" : "float32")}, " +
            $"{(s.TrainSubset > 0 ? s.TrainSubset : "all")} training images; probe and {s.K}-NN on " +
            $"{(s.EvalSubset > 0 ? $"{s.EvalSubset} train / {Math.Max(1, s.EvalSubset / 6)} test" : "all")} images, " +
            $"{s.ProbeEpochs} probe epochs; seeds 0–{s.Seeds - 1}\n\n"));
        foreach (var t in tables) md.Append(AblationReport.Markdown(t, finals.Where(r => r.Table == t.Name).ToList(), results));
        Directory.CreateDirectory(outDir);
        IO.WriteFault.WriteAllText(Path.Combine(outDir, "tables.csv"), AblationReport.ToCsv(finals));
        var studied = s.BudgetStudy ? tables.Where(t => t.BudgetStudy).ToList() : [];
        if (studied.Count > 0)
        {
            var points = studied.SelectMany(t => s.BudgetSteps.SelectMany(step => AblationReport.Summarise(t, results, s, runner.Encoder, step))).ToList();
            IO.WriteFault.WriteAllText(Path.Combine(outDir, "budget.csv"), AblationReport.ToCsv(points));
            md.Append("### Budget study\n\n" +
                      "Kendall's τ between the rows' mean linear-probe ranking at each checkpoint and at the budget " +
                      "(1: same order):\n\n| table | " +
                      string.Join(" | ", s.BudgetSteps.Select(x => $"step {x}")) + " |\n|---|" + string.Concat(s.BudgetSteps.Select(_ => "---|")) + "\n");
            foreach (var t in studied)
            {
                var final = points.Where(p => p.Table == t.Name && p.Steps == s.Steps).Select(p => p.Probe.Mean).ToList();
                md.Append($"| {t.Name} | " + string.Join(" | ", s.BudgetSteps.Select(x =>
                    AblationReport.KendallTau(points.Where(p => p.Table == t.Name && p.Steps == x).Select(p => p.Probe.Mean).ToList(),
                                              final).ToString("F2", inv))) + " |\n");
            }
            md.Append("\nPairs of rows whose probe intervals are apart at a checkpoint, " +
                      "and how many of them keep that order (by mean) at the budget:\n\n| table | " +
                      string.Join(" | ", s.BudgetSteps.Select(x => $"step {x}")) + " |\n|---|" + string.Concat(s.BudgetSteps.Select(_ => "---|")) + "\n");
            foreach (var t in studied)
            {
                var final = points.Where(p => p.Table == t.Name && p.Steps == s.Steps).ToList();
                md.Append($"| {t.Name} | " + string.Join(" | ", s.BudgetSteps.Select(x =>
                {
                    var (settled, kept) = AblationReport.SettledPairs(points.Where(p => p.Table == t.Name && p.Steps == x).ToList(), final, r => r.Probe);
                    return $"{kept} of {settled} kept";
                })) + " |\n");
            }
            md.Append('\n');
        }
        IO.WriteFault.WriteAllText(Path.Combine(outDir, "runs.csv"), AblationReport.RunsCsv(results));
        IO.WriteFault.WriteAllText(Path.Combine(outDir, "ablation.md"), md.ToString());
        Console.WriteLine(md);
        Console.WriteLine($"wrote {Path.Combine(outDir, "ablation.md")}, tables.csv, runs.csv{(studied.Count > 0 ? ", budget.csv" : "")}");
    }

    // The commit the running build was made from (the SDK stamps it into the informational version): the code that trained
    // and wrote the tables, whatever the folder the command runs in has checked out by the time it finishes.
    internal static string Commit() =>
        typeof(AblationRunner).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+') is [_, var sha, ..]
            ? $"{sha} (the build that ran)"
            : "unknown (built outside a git checkout)";
}
