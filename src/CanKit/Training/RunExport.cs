using CanKit.Data;
using CanKit.IO;
using CanKit.Methods;
using static CanKit.Training.PretrainRun;

namespace CanKit.Training;

/// <summary>Files written from a run folder: its encoder or whole model as safetensors, and CAN's reconstruction grid.</summary>
public static class RunExport
{
    /// <summary>
    /// Runs the trained method once on <paramref name="count"/> test images (both views un-augmented) and saves the
    /// originals / masked input / reconstruction / predicted-noise grid as a PNG.
    /// </summary>
    public static void SaveReconstructions(string runDir, string pngPath, int count = 8)
    {
        var spec = RunSpec.Load(runDir);
        var test = Datasets.Load(spec.Dataset, spec.DataRoot, train: false);
        using var method = LoadMethod(runDir);
        if (method.Module is not Can can) throw new ArgumentException($"reconstruction grids are drawn for CAN runs; {runDir} is a {spec.Method} run");
        using var scope = NewDisposeScope();
        using var g = new Generator(spec.Seed + 1);
        var (x, _) = test.Batch(Enumerable.Range(0, count).ToArray());
        using var noGrad = no_grad();
        can.eval();
        var result = can.Forward(x, x, g, keepPredictions: true);
        Plots.ReconstructionGrid.SavePng(pngPath, result.Predictions!, can.Config.Encoder.PatchSize, test.Normalization, can.Config.NormPixLoss, count);
    }

    /// <summary>Writes the run's encoder with timm's parameter names to a safetensors file.</summary>
    public static void ExportEncoder(string runDir, string path)
    {
        RefuseToOverwriteOtherFiles(path);
        using var method = LoadMethod(runDir);
        var spec = RunSpec.Load(runDir);
        var meta = new Dictionary<string, string>
        {
            ["format"] = "pt", [ExportFormat.RunMetadata] = spec.ToJson(), [ExportFormat.Marker] = ExportFormat.EncoderKind,
        };
        SafeTensors.Save(path, method.Encoder.state_dict(), meta);
    }

    /// <summary>
    /// Writes the run's whole method (encoder, heads, decoder, σ MLP; no optimiser state) as a float16
    /// <see cref="PretrainedModel"/> file, with run.json and the checkpoint's step in the metadata.
    /// </summary>
    public static void ExportModel(string runDir, string path)
    {
        RefuseToOverwriteOtherFiles(path);
        using var method = LoadMethod(runDir);
        PretrainedModel.Save(path, method, RunSpec.Load(runDir), Checkpoint.ReadStep(Path.Combine(runDir, Trainer.CheckpointFile)));
    }

    /// <summary>
    /// An export may replace an earlier export (of either kind), never anything else: a run's checkpoint, its run.json or
    /// any file that is not a safetensors file carrying <see cref="ExportFormat.Marker"/> would be lost. Checked before anything
    /// is read or written.
    /// </summary>
    private static void RefuseToOverwriteOtherFiles(string path)
    {
        if (Directory.Exists(path)) throw new IOException($"{path}: is a folder; --to names the file to write");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } parent && !Directory.Exists(parent))
            throw new IOException($"{path}: its folder {parent} does not exist");
        if (!File.Exists(path)) return;
        bool isExport;
        try { isExport = SafeTensors.ReadHeader(path).Metadata.TryGetValue(ExportFormat.Marker, out var kind)
                           && kind is ExportFormat.EncoderKind or ExportFormat.ModelKind; }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException) { isExport = false; }
        if (!isExport)
            throw new IOException($"{path}: exists and is not an encoder or model export; refusing to overwrite it (choose another --to, or delete it first)");
    }
}
