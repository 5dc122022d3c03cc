using System.Globalization;
using CanKit.Data;
using CanKit.IO;
using CanKit.Tensors;

namespace CanKit.Training;

/// <summary>What a checkpoint records besides tensors.</summary>
public sealed record CheckpointInfo(long Step, long TotalSteps, DataPosition Data, string Method, string Fingerprint);

/// <summary>
/// One safetensors file holds a whole training state, readable by any safetensors reader:
/// <list type="bullet">
/// <item><c>model.*</c>: the method's state dict (parameters and buffers, timm names);</item>
/// <item><c>optim.&lt;parameter&gt;.exp_avg</c> / <c>.exp_avg_sq</c> / <c>.step</c>: AdamW's moments and per-parameter
/// step count (the bias corrections depend on it);</item>
/// <item><c>rng</c>: the step generator's state ([S] uint8, as <c>torch.Generator.get_state()</c> returns it);</item>
/// <item>metadata: step, total steps, data position (epoch, batch), method and configuration fingerprint.</item>
/// </list>
/// Together these make a resumed run bit-identical to an uninterrupted one. Writes are atomic (temporary file +
/// rename), so a crash while saving leaves the previous checkpoint loadable.
/// </summary>
public static class Checkpoint
{
    /// <summary>Writes the state; <paramref name="extra"/> adds tensors under their own names.</summary>
    public static void Save(string path, nn.Module model, optim.Optimizer optimizer, Generator generator, CheckpointInfo info,
                            IReadOnlyDictionary<string, Tensor>? extra = null)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (k, v) in extra ?? new Dictionary<string, Tensor>()) tensors[k] = v;
        foreach (var (k, v) in model.state_dict()) tensors["model." + k] = v;
        foreach (var (name, state) in AdamWStates(model, optimizer))
        {
            tensors[$"optim.{name}.exp_avg"] = state.exp_avg;
            tensors[$"optim.{name}.exp_avg_sq"] = state.exp_avg_sq;
            if (state.max_exp_avg_sq is not null) tensors[$"optim.{name}.max_exp_avg_sq"] = state.max_exp_avg_sq;
            tensors[$"optim.{name}.step"] = tensor(new[] { state.step });                 // [1] int64
        }
        tensors["rng"] = generator.get_state();
        var inv = CultureInfo.InvariantCulture;
        var meta = new Dictionary<string, string>
        {
            ["step"] = info.Step.ToString(inv),
            ["total_steps"] = info.TotalSteps.ToString(inv),
            ["epoch"] = info.Data.Epoch.ToString(inv),
            ["batch"] = info.Data.Batch.ToString(inv),
            ["method"] = info.Method,
            ["fingerprint"] = info.Fingerprint,
            ["optimizer"] = optimizer.GetType().Name,
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafeTensors.Save(path, tensors, meta);
    }

    /// <summary>
    /// Restores model, optimiser and generator from <paramref name="path"/>. A checkpoint of another method or
    /// configuration, or one whose tensors do not fit the model, is rejected with the mismatching field or tensor named.
    /// </summary>
    public static CheckpointInfo Load(string path, nn.Module model, optim.Optimizer optimizer, Generator generator, string method, string fingerprint)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"checkpoint not found: {path}", path);
        using var scope = NewDisposeScope();
        using var ckpt = SafeTensors.Load(path);
        var meta = ckpt.Metadata;
        string Get(string key) => meta.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}: checkpoint metadata has no '{key}'");
        if (Get("method") != method)
            throw new InvalidDataException($"{path}: checkpoint is for method '{Get("method")}', not '{method}'");
        if (Get("fingerprint") != fingerprint)
            throw new InvalidDataException($"{path}: checkpoint was made with another configuration:\n" +
                                           $"  checkpoint: {Get("fingerprint")}\n  this run:   {fingerprint}");
        var inv = CultureInfo.InvariantCulture;
        long Long(string key) => long.TryParse(Get(key), NumberStyles.Integer, inv, out long v)
            ? v
            : throw new InvalidDataException($"{path}: metadata '{key}' is not an integer: '{Get(key)}'");
        long at = Long("step"), total = Long("total_steps"), epoch = Long("epoch"), batch = Long("batch");
        // A step outside [0, total] would resume a run "to done" without training, or feed the schedule a negative step.
        if (total <= 0) throw new InvalidDataException($"{path}: metadata 'total_steps' must be > 0, got {total}");
        if (at < 0 || at > total) throw new InvalidDataException($"{path}: metadata 'step' {at} is outside 0..{total} (the checkpoint's 'total_steps')");
        if (epoch < 0) throw new InvalidDataException($"{path}: metadata 'epoch' must be ≥ 0, got {epoch}");
        if (batch < 0) throw new InvalidDataException($"{path}: metadata 'batch' must be ≥ 0, got {batch}");
        LoadModel(model, ckpt.Where(kv => kv.Key.StartsWith("model.")).ToDictionary(kv => kv.Key[6..], kv => kv.Value), path);

        Tensor Need(string key) => ckpt.TryGetValue(key, out var t) ? t : throw new InvalidDataException($"{path}: checkpoint has no tensor '{key}'");
        using (no_grad())
        {
            foreach (var (name, state) in AdamWStates(model, optimizer))
            {
                CopyInto(state.exp_avg, Need($"optim.{name}.exp_avg"), $"optim.{name}.exp_avg", path);
                CopyInto(state.exp_avg_sq, Need($"optim.{name}.exp_avg_sq"), $"optim.{name}.exp_avg_sq", path);
                if (state.max_exp_avg_sq is not null)
                    CopyInto(state.max_exp_avg_sq, Need($"optim.{name}.max_exp_avg_sq"), $"optim.{name}.max_exp_avg_sq", path);
                var step = Need($"optim.{name}.step");
                if (step.dtype != ScalarType.Int64 || step.numel() != 1)
                    throw new InvalidDataException($"{path}: 'optim.{name}.step' must be one int64, found {step.dtype} {Shapes.Of(step)}");
                state.step = step.item<long>();
            }
        }
        // The generator's state is an opaque byte string of a fixed length for its kind: anything else is not ours.
        var rng = Need("rng");
        using (var current = generator.get_state())
            if (rng.dtype != ScalarType.Byte || rng.dim() != 1 || rng.shape[0] != current.shape[0])
                throw new InvalidDataException($"{path}: tensor 'rng' is {rng.dtype} {Shapes.Of(rng)}, " +
                                               $"the generator's state is Byte [{current.shape[0]}]");
        generator.set_state(rng);
        return new CheckpointInfo(at, total, new DataPosition(epoch, batch), method, fingerprint);
    }

    /// <summary>
    /// Copies <paramref name="state"/> into <paramref name="model"/>'s parameters and buffers. Every tensor of the
    /// model must be present with its shape and dtype and nothing else may be; otherwise the message names the first
    /// mismatching tensor and <paramref name="source"/>.
    /// </summary>
    public static void LoadModel(nn.Module model, IReadOnlyDictionary<string, Tensor> state, string source)
    {
        var target = model.state_dict();
        foreach (var key in target.Keys)
            if (!state.ContainsKey(key)) throw new InvalidDataException($"{source}: tensor '{key}' of the model is missing");
        foreach (var key in state.Keys)
            if (!target.ContainsKey(key)) throw new InvalidDataException($"{source}: tensor '{key}' does not belong to the model");
        using var noGrad = no_grad();
        foreach (var (key, t) in target) CopyInto(t, state[key], key, source);
    }

    /// <summary>The name of the first parameter of <paramref name="model"/> that holds NaN or infinite values, or null.</summary>
    public static string? NonFiniteParameter(nn.Module model)
    {
        foreach (var (name, p) in model.named_parameters())
            if (!isfinite(p).all().item<bool>()) return name;
        return null;
    }

    /// <summary>The step a checkpoint was written at, read from its metadata alone (the tensors are not loaded).</summary>
    public static long ReadStep(string path)
    {
        var meta = SafeTensors.ReadHeader(path).Metadata;
        if (!meta.TryGetValue("step", out var text)) throw new InvalidDataException($"{path}: checkpoint metadata has no 'step'");
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long step) || step < 0)
            throw new InvalidDataException($"{path}: metadata 'step' is not an integer ≥ 0: '{text}'");
        return step;
    }

    private static void CopyInto(Tensor destination, Tensor source, string name, string path)
    {
        if (!destination.shape.SequenceEqual(source.shape) || destination.dtype != source.dtype)
            throw new InvalidDataException($"{path}: tensor '{name}' is {source.dtype} {Shapes.Of(source)}, " +
                                           $"the model needs {destination.dtype} {Shapes.Of(destination)}");
        destination.copy_(source);
    }

    // AdamW's per-parameter state, each named by its parameter's name in the model (so the checkpoint does not depend
    // on the order of the parameter groups). The optimiser's state list follows its groups' parameters in order.
    private static IEnumerable<(string Name, AdamW.State State)> AdamWStates(nn.Module model, optim.Optimizer optimizer)
    {
        if (optimizer is not AdamW adamw)
            throw new NotSupportedException($"checkpoints store AdamW state; got {optimizer.GetType().Name}");
        // Keyed by handle, as the optimiser keys its own state: the module hands out the same Parameter objects each time.
        var names = new Dictionary<IntPtr, string>();
        foreach (var (name, p) in model.named_parameters()) names[p.Handle] = name;
        var parameters = adamw.parameters().ToList();
        var states = adamw.state_dict().State;
        for (int i = 0; i < parameters.Count; i++)
        {
            if (!names.TryGetValue(parameters[i].Handle, out var name))
                throw new ArgumentException($"the optimiser holds a parameter of shape {Shapes.Of(parameters[i])} " +
                                            "that is not in the model", nameof(optimizer));
            yield return (name, (AdamW.State)states[i]);
        }
    }
}
