using System.Globalization;
using CanKit.IO;
using CanKit.Nn;
using CanKit.Optim;

namespace CanKit.Training;

/// <summary>What a checkpoint records besides tensors.</summary>
public sealed record CheckpointInfo(long Step, long TotalSteps, DataPosition Data, string Method, string Fingerprint);

/// <summary>
/// One safetensors file holds a whole training state: <c>model.*</c> (the method's state dict), <c>optim.*</c>,
/// <c>rng</c> (the step generator's state) and metadata (step, total steps, data position, method, config
/// fingerprint). Writes are atomic (temporary file + rename), so a crash while saving leaves the previous
/// checkpoint loadable.
/// </summary>
public static class Checkpoint
{
    /// <summary>Writes the state; <paramref name="extra"/> adds tensors under their own names (e.g. other ranks' <c>rng.rank{r}</c>).</summary>
    public static void Save(string path, Module model, Optimizer optimizer, Generator generator, CheckpointInfo info,
                            IReadOnlyDictionary<string, Tensor>? extra = null)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in extra ?? new Dictionary<string, Tensor>()) tensors[k] = v;
        foreach (var (k, v) in model.StateDict()) tensors["model." + k] = v;
        foreach (var (k, v) in optimizer.StateDict()) tensors["optim." + k] = v;
        using var rng = generator.GetState();
        tensors["rng"] = rng;
        var inv = CultureInfo.InvariantCulture;
        var meta = new Dictionary<string, string>
        {
            ["step"] = info.Step.ToString(inv),
            ["total_steps"] = info.TotalSteps.ToString(inv),
            ["optimizer_steps"] = optimizer.StepCount.ToString(inv),
            ["epoch"] = info.Data.Epoch.ToString(inv),
            ["batch"] = info.Data.Batch.ToString(inv),
            ["method"] = info.Method,
            ["fingerprint"] = info.Fingerprint,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>
    /// Restores model, optimiser and generator from <paramref name="path"/>. A checkpoint of another method or
    /// configuration is rejected with the mismatching field or tensor named.
    /// </summary>
    public static CheckpointInfo Load(string path, Module model, Optimizer optimizer, Generator generator, string method, string fingerprint)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        using var ckpt = SafeTensors.Load(path);
        var meta = ckpt.Metadata;
        string Get(string key) => meta.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}: checkpoint metadata has no '{key}'");
        if (Get("method") != method)
            throw new InvalidDataException($"{path}: checkpoint is for method '{Get("method")}', not '{method}'");
        if (Get("fingerprint") != fingerprint)
            throw new InvalidDataException($"{path}: checkpoint was made with another configuration:\n  checkpoint: {Get("fingerprint")}\n  this run:   {fingerprint}");
        var modelState = ckpt.Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value);
        try
        {
            model.LoadStateDict(modelState);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        optimizer.LoadStateDict(ckpt.Where(kv => kv.Key.StartsWith("optim.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value));
        optimizer.StepCountFromCheckpoint(long.Parse(Get("optimizer_steps"), CultureInfo.InvariantCulture));
        generator.SetState(ckpt["rng"]);
        var inv = CultureInfo.InvariantCulture;
        return new CheckpointInfo(long.Parse(Get("step"), inv), long.Parse(Get("total_steps"), inv),
            new DataPosition(long.Parse(Get("epoch"), inv), long.Parse(Get("batch"), inv)), method, fingerprint);
    }
}
