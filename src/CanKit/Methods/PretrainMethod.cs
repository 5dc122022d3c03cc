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
public sealed record MethodSpec(string Name, MethodKind Kind, CanConfig? Can = null, CmaeConfig? Cmae = null, MaeConfig? Mae = null,
                                SimClrConfig? SimClr = null)
{
    /// <summary>The configurations <see cref="Create"/> builds for <paramref name="encoder"/>, all filled in (what a run trains).</summary>
    public MethodSpec Resolve(VitConfig encoder) => Kind switch
    {
        MethodKind.Can => this with { Can = CanFor(encoder) },
        MethodKind.Cmae => this with { Cmae = CmaeFor(encoder) },
        MethodKind.Mae => this with { Mae = (Mae ?? MaeConfig.Paper) with { Encoder = encoder with { ClsToken = true } } },
        MethodKind.SimClr => this with { SimClr = (SimClr ?? new SimClrConfig()) with { Encoder = encoder with { ClsToken = false } } },
        _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown method"),
    };

    /// <summary>Builds the method around an encoder of <paramref name="encoder"/>'s shape ([CLS] as the method needs).</summary>
    public IPretrainMethod Create(VitConfig encoder, Generator generator)
    {
        var r = Resolve(encoder);
        return Kind switch
        {
            MethodKind.Can => TwoViewMethod.Can(Name, r.Can!, generator),
            MethodKind.Cmae => TwoViewMethod.Cmae(Name, r.Cmae!, generator),
            MethodKind.Mae => TwoViewMethod.Mae(Name, r.Mae!, generator),
            _ => TwoViewMethod.SimClr(Name, r.SimClr!, generator),
        };
    }

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
        return new TwoViewMethod(name, m, (VisionTransformer)m.Encoder, new TwoViewPipeline(c.Views, c.Views), c.Encoder.ImageSize,
            (a, b, gen, keep) => m.Forward(a, b, gen, keepPredictions: keep));
    }

    public static IPretrainMethod Cmae(string name, CmaeConfig c, Generator g)
    {
        var m = new Cmae(c, g);
        var pipe = c.TargetView == CmaeTargetView.IndependentCrop
            ? new TwoViewPipeline(ViewAugmentation.CropFlip, ViewAugmentation.SimClr)   // the target keeps CMAE's colour augmentations
            : TwoViewPipeline.ForCmae(c.Shift);
        return new TwoViewMethod(name, m, m.Encoder, pipe, c.Encoder.ImageSize,
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
