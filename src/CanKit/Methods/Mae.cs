using CanKit.Objectives;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>MAE's settings (He et al. 2022).</summary>
public sealed record MaeConfig
{
    private readonly double _maskRatio = 0.75;

    public VitConfig Encoder { get; init; } = VitConfig.CifarSmall;
    public DecoderConfig Decoder { get; init; } = DecoderConfig.Small32;

    /// <summary>Share of patches removed. MAE: 0.75 (their sweep: 0.75 best for both probe and fine-tune).</summary>
    public double MaskRatio { get => _maskRatio; init => _maskRatio = ConfigRules.MaskRatio(value, nameof(MaskRatio)); }

    /// <summary>Per-patch standardised targets (MAE: better representations).</summary>
    public bool NormPixLoss { get; init; } = true;

    public static MaeConfig Paper => new();

    public MaeConfig Validate()
    {
        Encoder.Validate();
        Decoder.Validate();
        return this;
    }
}

/// <summary>
/// MAE: one view, masked; the decoder reconstructs the masked patches. Submodules <c>encoder</c>, <c>decoder</c>.
/// </summary>
public sealed class Mae : nn.Module
{
    // Fields carry the state-dict names: RegisterComponents() registers them by field name.
    private readonly IEncoder encoder;
    private readonly MaeDecoder decoder;

    public MaeConfig Config { get; }
    public IEncoder Encoder => encoder;
    public MaeDecoder Decoder => decoder;

    public Mae(MaeConfig config, Generator? generator = null) : this(config, new VisionTransformer(config.Validate().Encoder, generator), generator) { }

    public Mae(MaeConfig config, IEncoder encoder, Generator? generator = null) : base(nameof(Mae))
    {
        Config = config.Validate();
        this.encoder = encoder;
        decoder = new MaeDecoder(config.Encoder, config.Decoder, pixelHead: true, generator);
        RegisterComponents();
    }

    /// <summary>images [N, C, H, W] → reconstruction loss on masked patches (mask noise [N, L] may be given).</summary>
    public StepResult Forward(Tensor images, Generator? generator = null, StepRandomness? given = null, bool keepPredictions = false)
    {
        Tensor loss;
        LossBreakdown terms;
        Predictions? predictions = null;
        using (var scope = torch.NewDisposeScope())
        {
            var tokens = encoder.Embed(images);                                    // [N, L, D]
            var masked = RandomMasking.Apply(tokens, Config.MaskRatio, generator, given?.MaskNoise);
            var latent = encoder.Encode(masked.Visible);                           // [N, (1+)Lv, D]
            var pred = decoder.forward(latent, masked.IdsRestore, null);           // [N, L, P]
            loss = PatchLosses.Reconstruction(pred, images, masked.Mask, Config.Encoder.PatchSize, Config.NormPixLoss);
            terms = LossBreakdown.Read(loss, reconstruction: loss);
            if (keepPredictions) predictions = Predictions.Keep(scope, pred, masked.Mask, images);
            loss.MoveToOuterDisposeScope();
        }
        return new StepResult(loss, terms, predictions);
    }
}
