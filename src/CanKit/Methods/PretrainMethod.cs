using CanKit.Augment;
using CanKit.Data;
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
    nn.Module Module { get; }
    VisionTransformer Encoder { get; }
    StepResult Step(Tensor rawImages, Normalization norm, Generator generator, bool keepPredictions = false);
    void AfterOptimizerStep(long step, long totalSteps);
}

/// <summary>A named method with its settings: one entry of the ablation table, or a pretraining run.</summary>
public sealed record MethodSpec(string Name, MethodKind Kind, CanConfig? Can = null, CmaeConfig? Cmae = null, MaeConfig? Mae = null, SimClrConfig? SimClr = null)
{
    /// <summary>Builds the method around an encoder of <paramref name="encoder"/>'s shape ([CLS] as the method needs).</summary>
    public IPretrainMethod Create(VitConfig encoder, Generator generator) => Kind switch
    {
        MethodKind.Can => TwoViewMethod.Can(Name, CanFor(encoder), generator),
        MethodKind.Cmae => TwoViewMethod.Cmae(Name, CmaeFor(encoder), generator),
        MethodKind.Mae => TwoViewMethod.Mae(Name, (Mae ?? MaeConfig.Paper) with { Encoder = encoder with { ClsToken = true } }, generator),
        MethodKind.SimClr => TwoViewMethod.SimClr(Name, (SimClr ?? new SimClrConfig()) with { Encoder = encoder with { ClsToken = false } }, generator),
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown method"),
    };

    // CAN keeps its preset's choice of [CLS]: none for the paper's, one for the official code's.
    private CanConfig CanFor(VitConfig encoder)
    {
        var c = Can ?? CanConfig.Paper;
        return c with { Encoder = encoder with { ClsToken = c.Encoder.ClsToken } };
    }

    // CMAE's feature decoder works at the encoder's width (its projector is EMA-copied to the target branch).
    private CmaeConfig CmaeFor(VitConfig encoder)
    {
        var c = Cmae ?? CmaeConfig.OfficialCode;
        return c with { Encoder = encoder with { ClsToken = true }, FeatureDecoder = c.FeatureDecoder with { Width = encoder.Width, Heads = encoder.Heads } };
    }

    /// <summary>
    /// The ablation suite of the CAN paper's tables, at one budget: baselines and CAN's switches, then CMAE and two of its
    /// switches (InfoNCE weighted 1 instead of the official 2τ; the target shifted by a share of the image, not of the crop).
    /// </summary>
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
            new("cmae-contrastive-weight-1", MethodKind.Cmae, Cmae: CmaeConfig.OfficialCode with { ScaleContrastiveByTwoTau = false }),
            new("cmae-shift-of-image", MethodKind.Cmae, Cmae: CmaeConfig.OfficialCode with { Shift = PixelShift.OfficialCode with { Frame = ShiftFrame.Image } }),
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

/// <summary>
/// The one adapter behind every method: make two views with the method's pipeline, run its forward, then its
/// post-step hook. MAE's forward uses the first view only.
/// </summary>
internal sealed class TwoViewMethod(string name, nn.Module module, VisionTransformer encoder, TwoViewPipeline pipeline, int imageSize,
                                    Func<Tensor, Tensor, Generator, bool, StepResult> forward, Action<long, long>? afterStep = null) : IPretrainMethod
{
    public string Name => name;
    public nn.Module Module => module;
    public VisionTransformer Encoder => encoder;

    public StepResult Step(Tensor raw, Normalization norm, Generator gen, bool keepPredictions)
    {
        var (v1, v2) = pipeline.Apply(raw, norm, imageSize, gen);
        using (v1) using (v2) return forward(v1, v2, gen, keepPredictions);
    }

    public void AfterOptimizerStep(long step, long totalSteps) => afterStep?.Invoke(step, totalSteps);
    public void Dispose() => module.Dispose();

    public static IPretrainMethod Can(string name, CanConfig c, Generator g)
    {
        var m = new Can(c, g);
        return new TwoViewMethod(name, m, (VisionTransformer)m.Encoder, TwoViewPipeline.Can, c.Encoder.ImageSize,
            (a, b, gen, keep) => m.Forward(a, b, gen, keepPredictions: keep));
    }

    public static IPretrainMethod Cmae(string name, CmaeConfig c, Generator g)
    {
        var m = new Cmae(c, g);
        return new TwoViewMethod(name, m, m.Encoder, TwoViewPipeline.ForCmae(c.Shift), c.Encoder.ImageSize,
            (a, b, gen, keep) => m.Forward(a, b, gen, keepPredictions: keep), (step, total) => m.UpdateTarget(step, total));
    }

    public static IPretrainMethod Mae(string name, MaeConfig c, Generator g)
    {
        var m = new Mae(c, g);
        // MAE sees one crop-and-flip view; the pipeline's second view is not used.
        var pipe = new TwoViewPipeline(ViewAugmentation.CropFlip, ViewAugmentation.CropFlip);
        return new TwoViewMethod(name, m, (VisionTransformer)m.Encoder, pipe, c.Encoder.ImageSize,
            (a, _, gen, keep) => m.Forward(a, gen, keepPredictions: keep));
    }

    public static IPretrainMethod SimClr(string name, SimClrConfig c, Generator g)
    {
        var m = new SimClr(c, g);
        return new TwoViewMethod(name, m, (VisionTransformer)m.Encoder, TwoViewPipeline.SimClr, c.Encoder.ImageSize,
            (a, b, _, _) => m.Forward(a, b));
    }
}
