using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using CanKit.Catalog;
using CanKit.Methods;
using CanKit.Training;

namespace CanKit.Ablation;

/// <summary>One run's scores at one step (the budget, or a budget-study checkpoint before it).</summary>
public sealed record AblationRunResult(string Row, int Seed, long Step, double Probe, double Knn, double TrainSeconds);

/// <summary>
/// Runs the rows of ablation tables over seeds, each (row, seed) in its own folder <c>runs/ROW/seed-S</c> under the
/// suite's folder, and returns every score. Resumable: a finished run (its <c>result.json</c>) is reused and a killed one
/// continues from its last checkpoint, but only after the folder's stored configuration (<c>ablation.json</c>: the run
/// spec, the method's resolved settings, schedule and evaluation) equals this suite's, byte for byte; otherwise an
/// <see cref="InvalidDataException"/> names the folder and the first differing line.
/// The learning rate warms up over 5 % of the budget and then stays constant, so a budget-study checkpoint at step s
/// is the state a run of s steps would reach with this schedule (its warm-up excepted: 5 % of the full budget).
/// </summary>
public sealed partial class AblationRunner(AblationSettings settings, string outDir, Device device, Action<string>? log = null)
{
    /// <summary>Told each logged training step of every run (the trainer calls it on its own thread, between steps).</summary>
    public IProgress<StepMetrics>? StepProgress { get; init; }

    /// <summary>
    /// A folder where each run also writes TensorBoard event files (<see cref="TensorBoardLog"/>), in a sub-folder named
    /// after its run folder: <c>ROW/seed-S</c> (<see cref="TensorBoardDir"/>). Null: none. Reused runs write nothing.
    /// </summary>
    public string? TensorBoard { get; init; }

    /// <summary>Where the suite under way stands (null before <see cref="Run"/>): its run, the runs done and the time left.</summary>
    public SuiteProgress? Suite { get; private set; }

    public const string ConfigFile = "ablation.json", ResultFile = "result.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    public AblationSettings Settings { get; } = settings.Validate();
    private Vision.VitConfig? _encoder;

    /// <summary>The encoder every run of the suite trains (known once the data is loaded).</summary>
    public Vision.VitConfig Encoder
    {
        get
        {
            if (_encoder is not null) return _encoder;
            var spec = Settings.Spec(AblationTables.CanComponents.Rows[0], 0);
            return _encoder = spec.Encoder(PretrainRun.LoadTrain(spec));
        }
    }

    /// <summary>The folder of <paramref name="row"/>'s run at <paramref name="seed"/>.</summary>
    public string RunDir(string row, int seed) => Path.Combine(outDir, "runs", row, $"seed-{seed}");

    /// <summary>
    /// The TensorBoard folder of <paramref name="row"/>'s run at <paramref name="seed"/> (null without a <see cref="TensorBoard"/> folder).
    /// </summary>
    public string? TensorBoardDir(string row, int seed) => TensorBoard is null ? null : Path.Combine(TensorBoard, row, $"seed-{seed}");

    /// <summary>Every distinct row of <paramref name="tables"/> at every seed, seed by seed (a suite killed early still has whole seeds).</summary>
    public IReadOnlyList<AblationRunResult> Run(IReadOnlyList<AblationTable> tables, CancellationToken cancel = default)
    {
        if (tables.SelectMany(t => t.Rows).Any(r => r.Name == PixelsRow))
            throw new ArgumentException($"'{PixelsRow}' names the raw-pixel row every suite scores; give the row another name", nameof(tables));
        CheckRows(tables);
        var rows = tables.SelectMany(t => t.Rows).DistinctBy(r => r.Name).ToList();
        var studied = Settings.BudgetStudy ? tables.Where(t => t.BudgetStudy).SelectMany(t => t.Rows).Select(r => r.Name).ToHashSet() : [];
        // Every run's configuration is checked before the first one trains: a mismatch found late would waste the suite.
        foreach (var row in rows)
            for (int seed = 0; seed < Settings.Seeds; seed++)
                Verify(RunDir(row.Name, seed), ConfigJson(row, seed, studied.Contains(row.Name)));
        for (int seed = 0; seed < Settings.Seeds; seed++) Verify(RunDir(PixelsRow, seed), PixelsConfigJson(seed));
        var results = new List<AblationRunResult>();
        var suite = Suite = new SuiteProgress(rows.Count * Settings.Seeds);
        for (int seed = 0; seed < Settings.Seeds; seed++)
        {
            results.AddRange(PixelsAt(seed, cancel));
            foreach (var row in rows)
            {
                bool reused = File.Exists(Path.Combine(RunDir(row.Name, seed), ResultFile));
                log?.Invoke(suite.Before(row.Name, seed, reused));
                var clock = Stopwatch.StartNew();
                results.AddRange(RunOne(row, seed, studied.Contains(row.Name), cancel));
                suite.After(reused, clock.Elapsed.TotalSeconds);
            }
        }
        return results;
    }

    /// <summary>
    /// The configuration a run folder must hold: the run spec, the method's settings as they are trained, the schedule,
    /// the checkpoints kept and the evaluation.
    /// </summary>
    public string ConfigJson(MethodSpec row, int seed, bool budgetStudy)
    {
        var spec = Settings.Spec(row, seed);
        var method = spec.MethodSpec().Resolve(Encoder);   // every run of a suite has the same data and encoder shape
        var config = new
        {
            run = spec,
            method,
            schedule = "linear warm-up over 5 % of the steps, then constant",
            checkpointEvery = Settings.CheckpointEvery,
            probedSteps = budgetStudy ? Settings.BudgetSteps : [Settings.Steps],
            evaluation = new { Settings.EvalSubset, Settings.ProbeEpochs, Settings.K },
        };
        return JsonSerializer.Serialize(config, Json);
    }

    /// <summary>
    /// Checks that every row of <paramref name="tables"/> is the row its name registers in <see cref="AblationTables"/>,
    /// as a run trains it (<see cref="Run"/> does this first). A run stores only its row's name (run.json) and rebuilds
    /// the method from it, so a row changed with <c>with</c> but keeping its name would otherwise silently train the
    /// registered configuration; an <see cref="ArgumentException"/> names the table, the row and the first differing setting.
    /// </summary>
    public void CheckRows(IReadOnlyList<AblationTable> tables)
    {
        foreach (var t in tables)
            foreach (var row in t.Rows)
                CheckRegistered(t, row);
    }

    private void CheckRegistered(AblationTable table, MethodSpec row)
    {
        if (Settings.UserRows.Any(u => u.Name == row.Name)) return;   // rebuilt from its run.json's method and settings
        var spec = Settings.Spec(row, 0);
        MethodSpec registered;
        try { registered = spec.MethodSpec(); }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"table '{table.Name}', row '{row.Name}': not a registered row ({e.Message}); " +
                                        "add it to AblationTables.cs under a new name", nameof(row), e);
        }
        string trains = JsonSerializer.Serialize(registered.Resolve(Encoder), Json),
               declared = JsonSerializer.Serialize(spec.WithDecoder(row).Resolve(Encoder), Json);
        if (trains == declared) return;
        var (_, registeredLine, declaredLine) = FirstDifference(trains, declared);
        throw new ArgumentException(
            $"table '{table.Name}', row '{row.Name}': differs from the registered row of that name "
            + $"({declaredLine} where the registered row has {registeredLine}); "
            + "a run rebuilds its method from the row's name, so register a changed row in AblationTables.cs under a new name", nameof(row));
    }

    private static void Verify(string dir, string expected)
    {
        if (!Directory.Exists(dir)) return;
        string path = Path.Combine(dir, ConfigFile);
        if (!File.Exists(path))
        {
            if (Directory.EnumerateFileSystemEntries(dir).Any())
                throw new InvalidDataException($"{dir}: holds files but no {ConfigFile}; it is not a run of this suite (delete it or use another --out)");
            return;
        }
        string stored = File.ReadAllText(path);
        if (stored == expected) return;
        var (line, was, now) = FirstDifference(stored, expected);
        throw new InvalidDataException($"{dir}: its {ConfigFile} differs from this suite's configuration at line {line} " +
                                       $"(stored {was}, now {now}); delete the folder or use another --out");
    }

    // The first line (1-based) at which two JSON texts differ, and that line of each, trimmed ("(end)" past the last).
    private static (int Line, string A, string B) FirstDifference(string a, string b)
    {
        var (la, lb) = (a.Split('\n'), b.Split('\n'));
        int i = 0;
        while (i < la.Length && i < lb.Length && la[i] == lb[i]) i++;
        static string At(string[] lines, int i) => i < lines.Length ? lines[i].Trim().TrimEnd(',') : "(end)";
        return (i + 1, At(la, i), At(lb, i));
    }

    private IReadOnlyList<AblationRunResult> RunOne(MethodSpec row, int seed, bool budgetStudy, CancellationToken cancel)
    {
        string dir = RunDir(row.Name, seed), resultPath = Path.Combine(dir, ResultFile);
        string config = ConfigJson(row, seed, budgetStudy);
        Verify(dir, config);
        if (File.Exists(resultPath)) return ReadResults(resultPath, $"{row.Name} seed {seed}");
        cancel.ThrowIfCancellationRequested();
        Directory.CreateDirectory(dir);
        IO.WriteFault.WriteAllText(Path.Combine(dir, ConfigFile), config);
        var spec = Settings.Spec(row, seed);
        var clock = Stopwatch.StartNew();
        var outcome = PretrainRun.Pretrain(spec, dir, device, StepProgress, cancel,
            checkpointEvery: (int)Settings.CheckpointEvery, logEvery: (int)Settings.LogEvery,
            adjust: c => c with { MinLearningRate = c.LearningRate, KeepCheckpoints = budgetStudy },
            tensorBoard: TensorBoardDir(row.Name, seed));
        if (outcome == TrainOutcome.Interrupted) throw new OperationCanceledException($"{row.Name} seed {seed} stopped at a checkpoint in {dir}", cancel);
        double seconds = clock.Elapsed.TotalSeconds;
        var probed = budgetStudy ? Settings.BudgetSteps : [Settings.Steps];
        foreach (string kept in Directory.EnumerateFiles(dir, "checkpoint-*.safetensors"))   // the kept checkpoints no point probes
            if (!probed.Any(s => Path.GetFileName(kept) == Trainer.SnapshotFile(s))) File.Delete(kept);
        var results = new List<AblationRunResult>();
        foreach (long step in probed)
        {
            cancel.ThrowIfCancellationRequested();
            var r = Evaluate(dir, step);
            results.Add(new AblationRunResult(row.Name, seed, step, r.ProbeTop1, r.KnnTop1, seconds));
            log?.Invoke($"{row.Name} seed {seed} step {step}: probe {r.ProbeTop1:P2}, {Settings.K}-NN {r.KnnTop1:P2} ({seconds:F0} s training)");
        }
        WriteResults(resultPath, results);
        return results;
    }

    // The budget's own checkpoint is the run folder's; an earlier one is probed from a folder of its own beside it
    // (a copy of run.json and of that step's kept checkpoint), so the evaluation and its feature cache are the usual ones.
    private EvalResult Evaluate(string dir, long step)
    {
        string at = dir;
        if (step != Settings.Steps)
        {
            at = Path.Combine(dir, $"at-{step}");
            Directory.CreateDirectory(at);
            File.Copy(Path.Combine(dir, "run.json"), Path.Combine(at, "run.json"), overwrite: true);
            File.Copy(Path.Combine(dir, Trainer.SnapshotFile(step)), Path.Combine(at, Trainer.CheckpointFile), overwrite: true);
        }
        return RunEvaluation.Evaluate(at, device, k: Settings.K, probeEpochs: Settings.ProbeEpochs, evalSubset: Settings.EvalSubset);
    }
}
