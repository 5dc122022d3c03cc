using System.Text.Json;
using CanKit.Catalog;
using CanKit.Training;

namespace CanKit.Ablation;

public sealed partial class AblationRunner
{
    /// <summary>
    /// The name of the raw-pixel row every suite scores beside its trained rows (no registered row may take it). Its
    /// results have step 0: the pixels do not change with the budget.
    /// </summary>
    public const string PixelsRow = "pixels";

    /// <summary>
    /// The raw-pixel row at <paramref name="seed"/>: the evaluation every run of the suite gets (the same images, probe
    /// epochs, k and probe seed), with the normalised pixels as the features
    /// (<see cref="RunEvaluation.EvaluatePixels(RunSpec, int, double, int, IProgress{string}?, int)"/>).
    /// Stored like a run in <c>runs/pixels/seed-S</c> with its configuration, so a resumed suite reuses it and a suite
    /// with another evaluation is refused by name.
    /// </summary>
    private IReadOnlyList<AblationRunResult> PixelsAt(int seed, CancellationToken cancel)
    {
        string dir = RunDir(PixelsRow, seed), resultPath = Path.Combine(dir, ResultFile);
        var spec = Settings.Spec(AblationTables.CanComponents.Rows[0], seed);
        string config = PixelsConfigJson(seed);
        Verify(dir, config);
        if (File.Exists(resultPath)) return ReadResults(resultPath, $"{PixelsRow} seed {seed}");
        cancel.ThrowIfCancellationRequested();
        var r = RunEvaluation.EvaluatePixels(spec, k: Settings.K, probeEpochs: Settings.ProbeEpochs, evalSubset: Settings.EvalSubset);
        log?.Invoke($"{PixelsRow} seed {seed}: probe {r.ProbeTop1:P2}, {Settings.K}-NN {r.KnnTop1:P2} (the line every row must clear)");
        Directory.CreateDirectory(dir);
        IO.WriteFault.WriteAllText(Path.Combine(dir, ConfigFile), config);
        var results = new List<AblationRunResult> { new(PixelsRow, seed, 0, r.ProbeTop1, r.KnnTop1, 0) };
        WriteResults(resultPath, results);
        return results;
    }

    /// <summary>The configuration the pixel row's folder at <paramref name="seed"/> must hold: data and evaluation.</summary>
    public string PixelsConfigJson(int seed) => JsonSerializer.Serialize(new
    {
        features = "raw pixels, normalised as the encoders' inputs",
        dataset = Settings.Dataset,
        probeSeed = seed,
        evaluation = new { Settings.EvalSubset, Settings.ProbeEpochs, Settings.K },
    }, Json);

    private IReadOnlyList<AblationRunResult> ReadResults(string path, string what)
    {
        var stored = JsonSerializer.Deserialize<List<AblationRunResult>>(File.ReadAllText(path), Json)
                     ?? throw new InvalidDataException($"{path}: empty");
        log?.Invoke($"{what}: reused ({path})");
        return stored;
    }

    // Written beside and renamed over: a killed suite leaves either no result or a whole one.
    private static void WriteResults(string path, IReadOnlyList<AblationRunResult> results)
    {
        IO.WriteFault.WriteAllText(path, JsonSerializer.Serialize(results, Json));
    }
}
