using CanKit.Augment;
using CanKit.Data;
using CanKit.Nn;
using CanKit.Optim;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>The pre-training methods the trainer and the ablation suite can run.</summary>
public enum MethodKind { Can, Cmae, Mae, SimClr }

/// <summary>
/// A method as the trainer sees it: one step from a batch of raw uint8 images (views are made inside, on the
/// training device, from the step's generator), the hook after each optimiser step (CMAE's EMA), the encoder
/// for evaluation, and the parameter groups to optimise.
/// </summary>
public interface IPretrainMethod : IDisposable
{
    string Name { get; }
    Module Module { get; }
    VisionTransformer Encoder { get; }
    StepResult Step(Tensor rawImages, Normalization norm, Generator generator, bool keepPredictions = false);
    void AfterOptimizerStep(long step, long totalSteps);
}

/// <summary>A named method with its settings: one entry of the ablation table, or a pretraining run.</summary>
public sealed record MethodSpec(string Name, MethodKind Kind, CanConfig? Can = null, CmaeConfig? Cmae = null, MaeConfig? Mae = null, SimClrConfig? SimClr = null)
{
    /// <summary>Builds the method for images of <paramref name="channels"/>×<paramref name="size"/>² with <paramref name="encoder"/>'s shape.</summary>
    public IPretrainMethod Create(VitConfig encoder, Generator generator) => Kind switch
    {
        MethodKind.Can => new CanMethod(Name, (Can ?? CanConfig.Paper) with { Encoder = encoder with { ClsToken = false } }, generator),
        MethodKind.Cmae => new CmaeMethod(Name, (Cmae ?? CmaeConfig.OfficialCode) is var c ? c with { Encoder = encoder with { ClsToken = true }, FeatureDecoder = c.FeatureDecoder with { Width = encoder.Width, Heads = encoder.Heads } } : null!, generator),
        MethodKind.Mae => new MaeMethod(Name, (Mae ?? MaeConfig.Paper) with { Encoder = encoder with { ClsToken = true } }, generator),
        MethodKind.SimClr => new SimClrMethod(Name, (SimClr ?? new SimClrConfig()) with { Encoder = encoder with { ClsToken = false } }, generator),
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown method"),
    };

    /// <summary>The ablation suite of the CAN paper's tables, at one budget: baselines and CAN's switches, then CMAE.</summary>
    public static IReadOnlyList<MethodSpec> AblationSuite(CanConfig? baseCan = null)
    {
        var can = baseCan ?? CanConfig.Paper;
        return
        [
            new("mae", MethodKind.Mae),
            new("simclr", MethodKind.SimClr),
            new("masked-contrastive", MethodKind.Can, Can: CanConfig.Ablations.MaskedContrastiveOnly(can)),
            new("can-no-noise", MethodKind.Can, Can: CanConfig.Ablations.WithoutNoise(can)),
            new("can-noise-as-aug", MethodKind.Can, Can: CanConfig.Ablations.NoiseAsAugmentation(can)),
            new("can-no-sigma-embedding", MethodKind.Can, Can: CanConfig.Ablations.WithoutSigmaEmbedding(can)),
            new("can", MethodKind.Can, Can: can),
            new("cmae", MethodKind.Cmae),
        ];
    }

    public static MethodSpec Parse(string name) => name.ToLowerInvariant() switch
    {
        "can" => new("can", MethodKind.Can),
        "cmae" => new("cmae", MethodKind.Cmae),
        "mae" => new("mae", MethodKind.Mae),
        "simclr" => new("simclr", MethodKind.SimClr),
        _ => AblationSuite().FirstOrDefault(s => s.Name == name.ToLowerInvariant())
             ?? throw new ArgumentException($"unknown method '{name}' (expected can, cmae, mae, simclr or one of: {string.Join(", ", AblationSuite().Select(s => s.Name))})", nameof(name)),
    };
}

internal sealed class CanMethod(string name, CanConfig config, Generator g) : IPretrainMethod
{
    private readonly Can _can = new(config, g);
    public string Name => name;
    public Module Module => _can;
    public VisionTransformer Encoder => (VisionTransformer)_can.Encoder;

    public StepResult Step(Tensor raw, Normalization norm, Generator gen, bool keepPredictions)
    {
        var (v1, v2) = TwoViewPipeline.Can.Apply(raw, norm, config.Encoder.ImageSize, gen);
        using (v1) using (v2) return _can.Forward(v1, v2, gen, keepPredictions: keepPredictions);
    }

    public void AfterOptimizerStep(long step, long totalSteps) { }
    public void Dispose() => _can.Dispose();
}

internal sealed class CmaeMethod(string name, CmaeConfig config, Generator g) : IPretrainMethod
{
    private readonly Cmae _cmae = new(config, g);
    public string Name => name;
    public Module Module => _cmae;
    public VisionTransformer Encoder => _cmae.Encoder;

    public StepResult Step(Tensor raw, Normalization norm, Generator gen, bool keepPredictions)
    {
        var (v1, v2) = TwoViewPipeline.Cmae.Apply(raw, norm, config.Encoder.ImageSize, gen);
        using (v1) using (v2) return _cmae.Forward(v1, v2, gen, keepPredictions: keepPredictions);
    }

    public void AfterOptimizerStep(long step, long totalSteps) => _cmae.UpdateTarget(step, totalSteps);
    public void Dispose() => _cmae.Dispose();
}

internal sealed class MaeMethod(string name, MaeConfig config, Generator g) : IPretrainMethod
{
    private readonly Mae _mae = new(config, g);
    public string Name => name;
    public Module Module => _mae;
    public VisionTransformer Encoder => (VisionTransformer)_mae.Encoder;

    public StepResult Step(Tensor raw, Normalization norm, Generator gen, bool keepPredictions)
    {
        // MAE sees one crop-and-flip view.
        var pipe = new TwoViewPipeline(ViewAugmentation.CropFlip, ViewAugmentation.CropFlip, PixelShift: 0);
        var (v1, v2) = pipe.Apply(raw, norm, config.Encoder.ImageSize, gen);
        v2.Dispose();
        using (v1) return _mae.Forward(v1, gen, keepPredictions: keepPredictions);
    }

    public void AfterOptimizerStep(long step, long totalSteps) { }
    public void Dispose() => _mae.Dispose();
}

internal sealed class SimClrMethod(string name, SimClrConfig config, Generator g) : IPretrainMethod
{
    private readonly SimClr _simclr = new(config, g);
    public string Name => name;
    public Module Module => _simclr;
    public VisionTransformer Encoder => (VisionTransformer)_simclr.Encoder;

    public StepResult Step(Tensor raw, Normalization norm, Generator gen, bool keepPredictions)
    {
        var (v1, v2) = TwoViewPipeline.SimClr.Apply(raw, norm, config.Encoder.ImageSize, gen);
        using (v1) using (v2) return _simclr.Forward(v1, v2);
    }

    public void AfterOptimizerStep(long step, long totalSteps) { }
    public void Dispose() => _simclr.Dispose();
}
