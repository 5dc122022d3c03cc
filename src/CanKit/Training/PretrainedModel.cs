using System.Globalization;
using CanKit.Data;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Training;

/// <summary>
/// A pre-trained method in one small file: every weight that <see cref="PretrainRun.LoadMethod(string, bool)"/> restores from a
/// checkpoint (encoder, heads, decoder, σ MLP; no optimiser state, no generator), stored as float16 safetensors under the
/// method's own state-dict names, with the run's run.json, its step and the image shape in the metadata:
/// <list type="bullet">
/// <item><c>cankit_export</c> = <c>model</c> (an encoder export says <c>encoder</c>);</item>
/// <item><c>cankit_run</c>: run.json; <c>step</c>: the checkpoint's step; <c>image_size</c>, <c>in_channels</c>: the
///   encoder's input, so loading needs no dataset.</item>
/// </list>
/// float16 keeps 11 significant bits (unit roundoff u = 2⁻¹¹ ≈ 4.9·10⁻⁴), half the bytes of float32 and a quarter of a
/// checkpoint's (which adds AdamW's two moments). Loading builds the run's method in float32 (the bf16 precision
/// policy of a run is a training choice; the loaded method uses plain float32 arithmetic on any device) and copies the
/// weights in, each widened exactly from float16.
/// </summary>
public sealed class PretrainedModel : IDisposable
{
    /// <summary>The value of <see cref="ExportFormat.Marker"/> in a model file.</summary>
    public const string Kind = ExportFormat.ModelKind;

    private PretrainedModel(RunSpec spec, long step, IPretrainMethod method)
    {
        Spec = spec;
        Step = step;
        Method = method;
    }

    /// <summary>The run the weights come from, as its run.json says (<see cref="RunSpec.Precision"/>: how it was trained).</summary>
    public RunSpec Spec { get; }

    /// <summary>Optimiser steps the weights had taken.</summary>
    public long Step { get; }

    /// <summary>The method in float32; the caller owns it through this object.</summary>
    public IPretrainMethod Method { get; }

    public void Dispose() => Method.Dispose();

    /// <summary>
    /// Writes <paramref name="method"/>'s state dict to <paramref name="path"/> as float16 (tensors that are not floating
    /// point keep their dtype), with <paramref name="spec"/> and <paramref name="step"/> in the metadata. A weight beyond
    /// float16's range (|w| &gt; 65504) is refused by name rather than stored as infinity.
    /// </summary>
    public static void Save(string path, IPretrainMethod method, RunSpec spec, long step)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(spec);
        if (step < 0 || step > spec.Steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"must be in 0..{spec.Steps} (the run's steps)");
        var encoder = method.Encoder.Config;
        using var scope = NewDisposeScope();
        var half = new Dictionary<string, Tensor>();
        using (no_grad())
            foreach (var (name, t) in method.Module.state_dict())
            {
                if (!t.is_floating_point()) { half[name] = t; continue; }
                var h = t.detach().to(ScalarType.Float16);
                if (!isfinite(h).all().item<bool>())
                    throw new InvalidDataException($"tensor '{name}' of the model holds values that float16 cannot hold " +
                                                   $"(NaN, infinite or |w| > 65504); {path} not written");
                half[name] = h;
            }
        var inv = CultureInfo.InvariantCulture;
        var meta = new Dictionary<string, string>
        {
            ["format"] = "pt",
            [ExportFormat.Marker] = Kind,
            [ExportFormat.RunMetadata] = spec.ToJson(),
            ["step"] = step.ToString(inv),
            ["image_size"] = encoder.ImageSize.ToString(inv),
            ["in_channels"] = encoder.InChannels.ToString(inv),
        };
        SafeTensors.Save(path, half, meta);
    }

    /// <summary>
    /// The method of the model file <paramref name="path"/> in float32 on <paramref name="device"/> (CPU when null); with
    /// <paramref name="randomInit"/> the same method freshly initialised from the run's seed (the baseline), after the
    /// file's metadata has been checked. A file that is not a model file (not safetensors, an encoder export, a
    /// checkpoint), a missing or bad metadata field, or a tensor of the wrong name, shape or dtype is an
    /// <see cref="InvalidDataException"/> naming the file and the field or tensor.
    /// </summary>
    public static PretrainedModel Load(string path, Device? device = null, bool randomInit = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new IOException($"{path}: is a folder; expected a model file (.safetensors)");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such model file", path);
        var meta = SafeTensors.ReadHeader(path).Metadata;
        string Get(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"{path}: metadata has no '{key}'" +
                                             (key == ExportFormat.Marker ? "; not a CanKit model file (write one with `cankit export --what model`)" : ""));
        string kind = Get(ExportFormat.Marker);
        if (kind != Kind)
            throw new InvalidDataException($"{path}: metadata '{ExportFormat.Marker}' is '{kind}'" +
                                           (kind == "encoder"
                                               ? ", an encoder export (the encoder alone, timm names); " +
                                                 "a model file is written by `cankit export --what model`"
                                               : $", expected '{Kind}'"));
        var spec = RunSpec.Parse(Get(ExportFormat.RunMetadata), $"{path}: metadata '{ExportFormat.RunMetadata}'");
        var inv = CultureInfo.InvariantCulture;
        long Long(string key, long min, long max) =>
            long.TryParse(Get(key), NumberStyles.Integer, inv, out long v) ? v >= min && v <= max ? v
                : throw new InvalidDataException($"{path}: metadata '{key}' {v} is outside {min}..{max}")
                : throw new InvalidDataException($"{path}: metadata '{key}' is not an integer: '{Get(key)}'");
        long step = Long("step", 0, spec.Steps);
        int size = (int)Long("image_size", 1, ImageFolder.MaxSide), channels = (int)Long("in_channels", 1, 4);
        VitConfig encoder;
        try { encoder = (spec with { Precision = Precision.Float32 }).Encoder(size, channels); }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: metadata 'image_size' {size} does not fit the run: " +
                                           $"{e.Message.Split(" (Parameter")[0]}", e);
        }

        using var g = new Generator(spec.Seed);
        var method = spec.MethodSpec().Create(encoder, g);
        try
        {
            if (!randomInit) CopyWeights(path, method.Module);
            if (device is not null) method.Module.to(device);
        }
        catch
        {
            method.Dispose();
            throw;
        }
        return new PretrainedModel(spec, step, method);
    }

    // Every floating-point tensor of the model must be stored as float16 with the model's shape (then widened exactly);
    // missing and extra names and the other tensors are checked by Checkpoint.LoadModel, which names the tensor.
    private static void CopyWeights(string path, nn.Module model)
    {
        using var scope = NewDisposeScope();
        var target = model.state_dict();
        using var file = SafeTensors.Load(path);
        var widened = new Dictionary<string, Tensor>();
        foreach (var (name, t) in file)
        {
            bool floating = target.TryGetValue(name, out var dst) && dst.is_floating_point();
            if (floating && t.dtype != ScalarType.Float16)
                throw new InvalidDataException($"{path}: tensor '{name}' is {t.dtype} {Shapes.Of(t)}, a model file holds Float16 weights");
            if (floating && !t.shape.SequenceEqual(dst!.shape))
                throw new InvalidDataException($"{path}: tensor '{name}' is Float16 {Shapes.Of(t)}, " +
                                               $"the model needs Float16 {Shapes.Of(dst)}");
            widened[name] = floating ? t.to(dst!.dtype) : t;
        }
        Checkpoint.LoadModel(model, widened, path);
        if (Checkpoint.NonFiniteParameter(model) is { } bad)
            throw new InvalidDataException($"{path}: tensor '{bad}' holds NaN or infinite values");
    }
}
