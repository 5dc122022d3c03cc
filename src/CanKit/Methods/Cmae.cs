using CanKit.Augment;
using CanKit.Distributed;
using CanKit.Objectives;
using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>
/// CMAE's settings (Huang et al. 2022). Defaults follow the official code (github.com/ZhichengHuang/CMAE, the 300-epoch
/// ViT-B config <c>cmae_vit-base-p16_32xb128-coslr-300e_in1k.py</c>); each departure of the official code from the
/// paper's text, and each of CanKit's own, is a field here (see docs/methods.md).
/// </summary>
public sealed record CmaeConfig
{
    private readonly double _maskRatio = 0.65, _temperature = 0.07, _wc = 1, _momentum = 0.996;
    private readonly int _projectionDim = 128, _projectionHidden = 512, _maskBlock = 2;

    /// <summary>Encoder (online and target share the shape). CMAE builds on MAE's ViT with [CLS].</summary>
    public VitConfig Encoder { get; init; } = VitConfig.CifarSmall;

    /// <summary>Pixel decoder for masked-patch reconstruction.</summary>
    public DecoderConfig PixelDecoder { get; init; } = DecoderConfig.Small32;

    /// <summary>Feature decoder: 2 blocks (CMAE §3.2) at the encoder width.</summary>
    public DecoderConfig FeatureDecoder { get; init; } = new() { Width = 192, Depth = 2, Heads = 3 };

    /// <summary>Share of patches removed in the online view. Official code: 0.65.</summary>
    public double MaskRatio { get => _maskRatio; init => _maskRatio = ConfigRules.MaskRatio(value, nameof(MaskRatio)); }

    /// <summary>InfoNCE temperature. Official code: 0.07.</summary>
    public double Temperature { get => _temperature; init => _temperature = ConfigRules.Positive(value, nameof(Temperature)); }

    /// <summary>λc, weight of the contrastive term (reconstruction has weight 1). Official code: <c>ct_weight = 1.0</c>.</summary>
    public double ContrastiveWeight { get => _wc; init => _wc = ConfigRules.NonNegative(value, nameof(ContrastiveWeight)); }

    /// <summary>
    /// Multiply the InfoNCE by 2τ as the official head does (<c>cmae_head.py</c>: <c>ct_weight * 2 * t * CE</c>), so with
    /// τ = 0.07 its effective weight is 0.14 and its gradient does not grow as τ shrinks. false: λc · InfoNCE (7× heavier
    /// at τ = 0.07).
    /// </summary>
    public bool ScaleContrastiveByTwoTau { get; init; } = true;

    /// <summary>The factor the InfoNCE term enters the loss with: λc·2τ (official) or λc.</summary>
    public double EffectiveContrastiveWeight => ScaleContrastiveByTwoTau ? ContrastiveWeight * 2 * Temperature : ContrastiveWeight;

    /// <summary>
    /// Side of the square blocks the online view is masked in. Official code: 2 (<c>cmae_vit.py</c> <c>random_masking</c>
    /// keeps whole 2×2 blocks); 1: per patch, as MAE. On a grid the block does not divide (28 px at patch 4: 7×7) the
    /// edge blocks are partial and ⌊L·(1−ratio)⌋ patches are kept (see <see cref="RandomMasking.ApplyBlocks"/>).
    /// </summary>
    public int MaskBlock { get => _maskBlock; init => _maskBlock = ConfigRules.Positive(value, nameof(MaskBlock)); }

    /// <summary>
    /// Apply the encoder's final LayerNorm in the target branch. Official 300-epoch config: off (<c>final_norm=False</c> on
    /// the target backbone); on: the target sees exactly what the online encoder outputs.
    /// </summary>
    public bool TargetFinalNorm { get; init; }

    /// <summary>How the target view is shifted against the online one. Official: windows of 224 moved 0–31 px in a 256 crop.</summary>
    public PixelShift Shift { get; init; } = PixelShift.OfficialCode;

    /// <summary>
    /// How the target view is placed. <see cref="CmaeTargetView.ShiftedWindow"/>: a window of the online view's crop moved
    /// by <see cref="Shift"/> (CMAE §3.3, official). <see cref="CmaeTargetView.IndependentCrop"/>: its own random resized
    /// crop (scale 0.2–1), as SimCLR pairs views (the paper's ablation of view pairing: worse than the pixel shift).
    /// </summary>
    public CmaeTargetView TargetView { get; init; } = CmaeTargetView.ShiftedWindow;

    /// <summary>
    /// Run the online tokens through the feature decoder before projector and predictor (CMAE §3.2; its ablation: it helps).
    /// false: the projector takes the mean of the encoder's visible patch tokens directly.
    /// </summary>
    public bool FeatureDecoderEnabled { get; init; } = true;

    /// <summary>EMA momentum μ of the target branch. Official: 0.996 (higher: slower, steadier target).</summary>
    public double Momentum
    {
        get => _momentum;
        init => _momentum = value is >= 0 and <= 1
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Momentum), value, "must be in [0, 1]");
    }

    /// <summary>Raise μ from Momentum to 1 over training on a cosine (BYOL) instead of keeping it constant.</summary>
    public bool CosineMomentum { get; init; }

    public int ProjectionDim { get => _projectionDim; init => _projectionDim = ConfigRules.Positive(value, nameof(ProjectionDim)); }
    public int ProjectionHidden { get => _projectionHidden; init => _projectionHidden = ConfigRules.Positive(value, nameof(ProjectionHidden)); }

    /// <summary>Per-patch standardised reconstruction targets (official: on).</summary>
    public bool NormPixLoss { get; init; } = true;

    /// <summary>The official code's choices: 2τ-scaled InfoNCE, 2×2 block masking, target without final norm, crop-relative shift.</summary>
    public static CmaeConfig OfficialCode => new();

    public CmaeConfig Validate()
    {
        Encoder.Validate();
        if (MaskBlock > Encoder.GridSize)
            throw new ArgumentOutOfRangeException(nameof(MaskBlock), MaskBlock,
                $"a mask block of {MaskBlock}×{MaskBlock} patches does not fit the {Encoder.GridSize}×{Encoder.GridSize} patch grid");
        Shift.Validate();
        PixelDecoder.Validate();
        FeatureDecoder.Validate();
        return this;
    }
}

/// <summary>Where CMAE's target view comes from (the view-pairing ablation of CMAE's §4).</summary>
public enum CmaeTargetView
{
    /// <summary>A window of the online view's crop, moved by the pixel shift (official).</summary>
    ShiftedWindow,
    /// <summary>An independent random resized crop of the image.</summary>
    IndependentCrop,
}

/// <summary>
/// CMAE: the online branch (masked encoder → pixel decoder, and → 2-block feature decoder → mean → projector →
/// predictor) learns from its target branch, an EMA copy of encoder and projector that sees the full, slightly
/// shifted second view and gets no gradient. Loss = reconstruction + λc·2τ · InfoNCE(predictor, target projector)
/// (official head; λc · InfoNCE with <see cref="CmaeConfig.ScaleContrastiveByTwoTau"/> off).
/// Submodules: <c>encoder</c>, <c>pixel_decoder</c>, <c>feature_decoder</c>, <c>projector</c>, <c>predictor</c>,
/// <c>target_encoder</c>, <c>target_projector</c>.
/// </summary>
public sealed class Cmae : nn.Module, IGlobalNegatives
{
    // Fields carry the state-dict names: RegisterComponents() registers them by field name.
    private readonly VisionTransformer encoder;
    private readonly MaeDecoder pixel_decoder;
    private readonly MaeDecoder feature_decoder;
    private readonly Sequential projector;
    private readonly Sequential predictor;
    private readonly VisionTransformer target_encoder;
    private readonly Sequential target_projector;

    public CmaeConfig Config { get; }

    /// <inheritdoc/>
    public ProcessGroup? NegativesGroup { get; set; }
    public VisionTransformer Encoder => encoder;
    public MaeDecoder PixelDecoder => pixel_decoder;
    public MaeDecoder FeatureDecoder => feature_decoder;
    public Sequential Projector => projector;
    public Sequential Predictor => predictor;
    public VisionTransformer TargetEncoder => target_encoder;
    public Sequential TargetProjector => target_projector;

    public Cmae(CmaeConfig config, Generator? generator = null) : base(nameof(Cmae))
    {
        Config = config.Validate();
        int d = config.Encoder.Width, fd = config.FeatureDecoder.Width;
        if (fd != d)
            throw new ArgumentOutOfRangeException(nameof(CmaeConfig.FeatureDecoder), fd,
                $"FeatureDecoder.Width must equal the encoder width {d}: the target projector is the online projector's EMA copy");
        encoder = new VisionTransformer(config.Encoder, generator);
        pixel_decoder = new MaeDecoder(config.Encoder, config.PixelDecoder, pixelHead: true, generator);
        feature_decoder = new MaeDecoder(config.Encoder, config.FeatureDecoder, pixelHead: false, generator);
        projector = ProjectionHead.Create(fd, config.ProjectionHidden, config.ProjectionDim, generator);
        predictor = ProjectionHead.Create(config.ProjectionDim, config.ProjectionHidden, config.ProjectionDim, generator);
        target_encoder = new VisionTransformer(config.Encoder, generator);
        target_projector = ProjectionHead.Create(d, config.ProjectionHidden, config.ProjectionDim, generator);
        RegisterComponents();
        Ema.InitialiseTarget(target_encoder, encoder);
        Ema.InitialiseTarget(target_projector, projector);
    }

    /// <summary>The online parameters (the ones an optimiser should update).</summary>
    public IEnumerable<(string name, Parameter parameter)> TrainableParameters() => named_parameters().Where(p => p.parameter.requires_grad);

    /// <summary>
    /// One CMAE step: <paramref name="online"/> [N, C, H, W] is masked and reconstructed; <paramref name="target"/>
    /// (the pixel-shifted, colour-augmented view) goes through the momentum branch whole. Mask noise may be given:
    /// [N, L] per patch, or [N, Lb] per block with <see cref="CmaeConfig.MaskBlock"/> &gt; 1 (blocks row-major).
    /// </summary>
    public StepResult Forward(Tensor online, Tensor target, Generator? generator = null, StepRandomness? given = null, bool keepPredictions = false)
    {
        if (!online.shape.SequenceEqual(target.shape))
            throw new ArgumentException($"the views differ in shape: {Shapes.Of(online.shape)} vs " +
                                        $"{Shapes.Of(target.shape)}", nameof(target));
        Tensor loss;
        LossBreakdown terms;
        Predictions? predictions = null;
        using (var scope = torch.NewDisposeScope())
        {
            var tokens = encoder.Embed(online);                                       // [N, L, D]
            var masked = Config.MaskBlock == 1
                ? RandomMasking.Apply(tokens, Config.MaskRatio, generator, given?.MaskNoise)
                : RandomMasking.ApplyBlocks(tokens, Config.MaskRatio, Config.Encoder.GridSize, Config.MaskBlock, generator, given?.MaskNoise);
            var latent = encoder.Encode(masked.Visible);                              // [N, (1+)Lv, D]
            var pixels = pixel_decoder.forward(latent, masked.IdsRestore, null);      // [N, L, P]
            var recon = PatchLosses.Reconstruction(pixels, online, masked.Mask, Config.Encoder.PatchSize, Config.NormPixLoss);
            var pooled = Config.FeatureDecoderEnabled
                ? feature_decoder.forward(latent, masked.IdsRestore, null).mean([1])  // [N, L, D] → [N, D]
                : ProjectionHead.MeanPool(latent, encoder.HasClsToken);               // visible patch tokens → [N, D]
            var q = predictor.call(projector.call(pooled));                           // [N, P]
            Tensor k;
            using (torch.no_grad())
            {
                var full = target_encoder.Embed(target);                              // [N, L, D], unmasked
                var t = Config.TargetFinalNorm ? target_encoder.Encode(full) : target_encoder.EncodeWithoutFinalNorm(full);   // [N, (1+)L, D]
                k = target_projector.call(ProjectionHead.MeanPool(t, target_encoder.HasClsToken));   // [N, P]
            }
            var con = InfoNceLoss.Asymmetric(q, k, Config.Temperature, NegativesGroup);
            loss = recon + con.Loss * Config.EffectiveContrastiveWeight;
            terms = LossBreakdown.Read(loss, con.Loss, recon, top1: con.Top1);
            if (keepPredictions) predictions = Predictions.Keep(scope, pixels, masked.Mask, online);
            loss.MoveToOuterDisposeScope();
        }
        return new StepResult(loss, terms, predictions);
    }

    /// <summary>The momentum for 0-based <paramref name="step"/> of <paramref name="totalSteps"/>.</summary>
    public double MomentumAt(long step, long totalSteps) =>
        Config.CosineMomentum ? Ema.CosineMomentum(Config.Momentum, step, totalSteps) : Config.Momentum;

    /// <summary>Moves the target branch towards the online one (call after each optimiser step); returns μ used.</summary>
    public double UpdateTarget(long step, long totalSteps)
    {
        double mu = MomentumAt(step, totalSteps);
        Ema.Update(target_encoder, encoder, mu);
        Ema.Update(target_projector, projector, mu);
        return mu;
    }
}
