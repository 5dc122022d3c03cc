using CanKit.Nn;
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
    public double MaskRatio { get => _maskRatio; init => _maskRatio = value is >= 0 and < 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaskRatio), value, "must be in [0, 1)"); }

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
public sealed class Mae : Module
{
    public MaeConfig Config { get; }
    public IEncoder Encoder { get; }
    public MaeDecoder Decoder { get; }

    public Mae(MaeConfig config, Generator? generator = null) : this(config, new VisionTransformer(config.Encoder, generator), generator) { }

    public Mae(MaeConfig config, IEncoder encoder, Generator? generator = null)
    {
        Config = config.Validate();
        Encoder = encoder;
        if (encoder is Module m) RegisterModule("encoder", m);
        Decoder = RegisterModule("decoder", new MaeDecoder(config.Encoder, config.Decoder, pixelHead: true, generator));
    }

    /// <summary>images [N, C, H, W] → reconstruction loss on masked patches (mask noise [N, L] may be given).</summary>
    public StepResult Forward(Tensor images, Generator? generator = null, StepRandomness? given = null, bool keepPredictions = false)
    {
        Tensor loss;
        Predictions? predictions = null;
        using (var scope = Torch.NewDisposeScope())
        {
            var tokens = Encoder.Embed(images);                                    // [N, L, D]
            var masked = RandomMasking.Apply(tokens, Config.MaskRatio, generator, given?.MaskNoise);
            var latent = Encoder.Encode(masked.Visible);                           // [N, (1+)Lv, D]
            var pred = Decoder.Forward(latent, masked.IdsRestore);                 // [N, L, P]
            loss = PatchLosses.Reconstruction(pred, images, masked.Mask, Config.Encoder.PatchSize, Config.NormPixLoss);
            scope.MoveToOuter(loss);
            if (keepPredictions) predictions = Predictions.Keep(scope, pred, masked.Mask, images);
        }
        double l = loss.Item<float>();
        return new StepResult(loss, new LossBreakdown(l, 0, l, 0, 0), predictions);
    }
}
