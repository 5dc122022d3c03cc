using CanKit.Augment;
using CanKit.Objectives;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>Where CAN's σ embedding enters the decoder.</summary>
public enum SigmaInjection
{
    /// <summary>Added to every decoder token after its position embedding, [M] tokens included (CanKit's reading of §3.3).</summary>
    DecoderTokens,
    /// <summary>Added to the encoder's output tokens ([CLS] included) before the decoder's embedding, so [M] tokens get none (official code).</summary>
    EncoderOutput,
}

/// <summary>Which image CAN's reconstruction loss compares the masked patches with.</summary>
public enum ReconstructionTarget
{
    /// <summary>The clean view (the paper: reconstruct the image, predict the noise).</summary>
    Clean,
    /// <summary>The noisy view the encoder saw (official code: the noise is added to the batch in place).</summary>
    Noisy,
}

/// <summary>How CAN uses noise (the paper's ablation of §4).</summary>
public enum NoiseMode
{
    /// <summary>No noise: CAN reduces to contrastive + MAE.</summary>
    Off,
    /// <summary>Noise added to the input, no denoising loss ("noise as augmentation").</summary>
    Augmentation,
    /// <summary>Noise added and predicted on visible patches (full CAN).</summary>
    Denoise,
}

/// <summary>
/// CAN's settings. Presets say where their numbers come from: <see cref="Paper"/>, <see cref="OfficialCode"/>,
/// <see cref="Community"/>; ablations are <c>with</c> switches on one of them (see <see cref="Ablations"/>).
/// </summary>
public sealed record CanConfig
{
    private readonly double _maskRatio = 0.5, _sigmaMax = 0.05, _temperature = 0.1, _sigmaScale = 1000;
    private readonly double _wc = 0.03, _wr = 0.67, _wd = 0.3;
    private readonly int _projectionDim = 128, _projectionHidden, _sigmaFeatures;

    /// <summary>Encoder shape. The paper pools visible tokens and needs no [CLS]; the official code's ViT has one.</summary>
    public VitConfig Encoder { get; init; } = VitConfig.CifarSmall with { ClsToken = false };

    /// <summary>Decoder shape: the reference 32-px config is 2 × 128 × 4 heads.</summary>
    public DecoderConfig Decoder { get; init; } = DecoderConfig.Small32;

    /// <summary>
    /// Each view's augmentations (both views alike). CAN §3 follows SimCLR's recipe with MAE's crops of 0.2–1 of the image;
    /// small grey images may want gentler crops and no blur (docs/methods.md, the main job's recipe).
    /// </summary>
    public ViewAugmentation Views { get; init; } = ViewAugmentation.SimClr;

    /// <summary>Share of patches removed in each view. Paper: 0.5; official code default: 0.75 (cheaper encoder).</summary>
    public double MaskRatio { get => _maskRatio; init => _maskRatio = ConfigRules.MaskRatio(value, nameof(MaskRatio)); }

    /// <summary>σ ~ U[0, σmax] per view, in normalised-pixel units. Community: 0.05; official code: 0.1.</summary>
    public double SigmaMax
    {
        get => _sigmaMax;
        init => _sigmaMax = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(SigmaMax), value, "must be ≥ 0");
    }

    /// <summary>Off / augmentation only / full denoising.</summary>
    public NoiseMode Noise { get; init; } = NoiseMode.Denoise;

    /// <summary>Tell the decoder σ through the sinusoidal embedding (the paper: denoising helps only with it).</summary>
    public bool SigmaEmbedding { get; init; } = true;

    /// <summary>σ multiplier before the sinusoids (see <see cref="Objectives.SigmaEmbedding"/>).</summary>
    public double SigmaScale { get => _sigmaScale; init => _sigmaScale = ConfigRules.Positive(value, nameof(SigmaScale)); }

    /// <summary>InfoNCE temperature τ. Paper: 0.1. Lower sharpens the softmax over negatives.</summary>
    public double Temperature { get => _temperature; init => _temperature = ConfigRules.Positive(value, nameof(Temperature)); }

    /// <summary>Contrastive embedding size. Official code: 128.</summary>
    public int ProjectionDim { get => _projectionDim; init => _projectionDim = ConfigRules.Positive(value, nameof(ProjectionDim)); }

    /// <summary>Head hidden width; 0 means the encoder width (official code).</summary>
    public int ProjectionHidden { get => _projectionHidden; init => _projectionHidden = ConfigRules.NonNegative(value, nameof(ProjectionHidden)); }

    /// <summary>Weight of InfoNCE. Official code 0.03; community 0.03.</summary>
    public double ContrastiveWeight { get => _wc; init => _wc = ConfigRules.NonNegative(value, nameof(ContrastiveWeight)); }

    /// <summary>Weight of masked-patch reconstruction. Official 0.97·0.7 = 0.679; community 0.67.</summary>
    public double ReconstructionWeight { get => _wr; init => _wr = ConfigRules.NonNegative(value, nameof(ReconstructionWeight)); }

    /// <summary>Weight of visible-patch denoising. Official 0.97·0.3 = 0.291; community 0.30.</summary>
    public double DenoiseWeight { get => _wd; init => _wd = ConfigRules.NonNegative(value, nameof(DenoiseWeight)); }

    /// <summary>Standardise each target patch (MAE's norm-pix loss; the community re-implementation uses it; official code: off).</summary>
    public bool NormPixLoss { get; init; } = true;

    /// <summary>Clean or noisy pixels as the reconstruction target. Official code: noisy (<c>imgs += noise</c> before the loss).</summary>
    public ReconstructionTarget ReconstructionTarget { get; init; } = ReconstructionTarget.Clean;

    /// <summary>Where σ's embedding is added: decoder tokens incl. [M] (CanKit), or encoder outputs before <c>decoder_embed</c> (official).</summary>
    public SigmaInjection SigmaAt { get; init; } = SigmaInjection.DecoderTokens;

    /// <summary>Sinusoidal features of σ; 0: the width the embedding is added to. Official code: 128 (<c>pe_dims</c>).</summary>
    public int SigmaFeatures
    {
        get => _sigmaFeatures;
        init => _sigmaFeatures = value >= 0 && value % 2 == 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(SigmaFeatures), value, "must be even and ≥ 0");
    }

    /// <summary>Frequency spacing of σ's sinusoid. Official code: <see cref="SinusoidFrequencies.Diffusion"/>.</summary>
    public SinusoidFrequencies SigmaFrequencies { get; init; } = SinusoidFrequencies.Transformer;

    /// <summary>
    /// Mean-pool the [CLS] token together with the visible patch tokens for the contrastive head (official code:
    /// <c>latent.mean(dim=1)</c> over [CLS] + patches). Matters only with <see cref="VitConfig.ClsToken"/>.
    /// </summary>
    public bool PoolIncludesCls { get; init; }

    /// <summary>CAN §3: 50% masking in each view, τ = 0.1; σmax, weights and norm-pix from the community re-implementation.</summary>
    public static CanConfig Paper => new();

    /// <summary>
    /// The official code (github.com/shlokk/mae-contrastive, models_mae.py, main_pretrain.py, engine_pretrain.py, run with
    /// <c>--noise_loss</c>): mask 0.75; σmax 0.1 (the model's <c>std=0.1</c>; <c>--std</c> is never passed to it); weights
    /// 0.03 / 0.97·0.7 / 0.97·0.3; no norm-pix; the noisy image as reconstruction target; an encoder with [CLS], pooled
    /// with it; σ's unscaled 128-feature diffusion sinusoid → MLP at the encoder width, added to the encoder output.
    /// </summary>
    public static CanConfig OfficialCode => new()
    {
        Encoder = VitConfig.CifarSmall with { ClsToken = true },
        MaskRatio = 0.75, SigmaMax = 0.1, ContrastiveWeight = 0.03, ReconstructionWeight = 0.97 * 0.7, DenoiseWeight = 0.97 * 0.3,
        NormPixLoss = false, ReconstructionTarget = ReconstructionTarget.Noisy, PoolIncludesCls = true,
        SigmaAt = SigmaInjection.EncoderOutput, SigmaScale = 1, SigmaFeatures = 128, SigmaFrequencies = SinusoidFrequencies.Diffusion,
    };

    /// <summary>A community re-implementation: mask 0.5, σmax 0.05, weights 0.03 / 0.67 / 0.30, norm-pix loss.</summary>
    public static CanConfig Community => new()
    {
        MaskRatio = 0.5, SigmaMax = 0.05, ContrastiveWeight = 0.03, ReconstructionWeight = 0.67, DenoiseWeight = 0.3, NormPixLoss = true,
    };

    /// <summary>The ablation switches of the papers' tables, each a one-field change of a base config.</summary>
    public static class Ablations
    {
        public static CanConfig WithoutNoise(CanConfig c) => c with { Noise = NoiseMode.Off };
        public static CanConfig NoiseAsAugmentation(CanConfig c) => c with { Noise = NoiseMode.Augmentation };
        public static CanConfig WithoutSigmaEmbedding(CanConfig c) => c with { SigmaEmbedding = false };
        public static CanConfig MaskedContrastiveOnly(CanConfig c) => c with { Noise = NoiseMode.Off, ReconstructionWeight = 0, DenoiseWeight = 0 };
    }

    public int HeadHidden => ProjectionHidden == 0 ? Encoder.Width : ProjectionHidden;
    public int SigmaWidth => SigmaAt == SigmaInjection.EncoderOutput ? Encoder.Width : Decoder.Width;
    public bool AddsNoise => Noise != NoiseMode.Off && SigmaMax > 0;
    public bool Denoises => Noise == NoiseMode.Denoise && SigmaMax > 0;
    public bool RunsDecoder => ReconstructionWeight > 0 || (Denoises && DenoiseWeight > 0);

    public CanConfig Validate()
    {
        Encoder.Validate();
        Decoder.Validate();
        return this;
    }

}
