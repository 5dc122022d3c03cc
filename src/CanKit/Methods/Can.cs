using CanKit.Distributed;
using CanKit.Nn;
using CanKit.Objectives;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>
/// CAN (Mishra et al. 2022): two views per image, each noised (σ·e, σ ~ U[0, σmax]) and masked; the encoder sees
/// only visible noisy patches. Losses: InfoNCE on the projected mean of visible tokens; reconstruction of the clean
/// pixels of masked patches; prediction of the added noise on visible patches, with σ given to the decoder by
/// <see cref="SigmaEmbedding"/>. Both views run as one stacked batch [2N, …] (view 1 first).
/// Submodules: <c>encoder</c>, <c>decoder</c>, <c>sigma_embed</c> (when denoising with the σ embedding), <c>head</c>.
/// </summary>
public sealed class Can : Module
{
    public CanConfig Config { get; }
    public IEncoder Encoder { get; }
    public MaeDecoder? Decoder { get; }
    public SigmaEmbedding? SigmaEmbed { get; }
    public Sequential Head { get; }

    /// <summary>
    /// Data-parallel training: when set, InfoNCE takes its negatives from every rank's batch (2·W·N − 2 per anchor,
    /// as one process with the whole global batch would); null: this process's 2N − 2 only.
    /// </summary>
    public ProcessGroup? NegativesGroup { get; set; }

    public Can(CanConfig config, Generator? generator = null)
        : this(config, new VisionTransformer(config.Encoder, generator), generator) { }

    /// <summary>Builds CAN around <paramref name="encoder"/> (registered as <c>encoder</c> if it is a module).</summary>
    public Can(CanConfig config, IEncoder encoder, Generator? generator = null)
    {
        Config = config.Validate();
        Encoder = encoder;
        if (encoder is Module m) RegisterModule("encoder", m);
        if (config.RunsDecoder) Decoder = RegisterModule("decoder", new MaeDecoder(config.Encoder, config.Decoder, pixelHead: true, generator));
        if (config.Denoises && config.SigmaEmbedding && Decoder is not null)
            SigmaEmbed = RegisterModule("sigma_embed", new SigmaEmbedding(config.Decoder.Width, config.SigmaScale, generator));
        Head = RegisterModule("head", ProjectionHead.Create(encoder.Width, config.HeadHidden, config.ProjectionDim, generator));
    }

    /// <summary>
    /// One CAN step on two augmented views [N, C, H, W] of the same images. Randomness comes from
    /// <paramref name="generator"/> unless fixed by <paramref name="given"/> (mask noise [2N, L], σ [2N],
    /// e [2N, C, H, W]). The returned loss belongs to the caller's dispose scope.
    /// </summary>
    public StepResult Forward(Tensor view1, Tensor view2, Generator? generator = null, StepRandomness? given = null, bool keepPredictions = false)
    {
        var c = Config;
        int p = c.Encoder.PatchSize;
        Tensor loss;
        LossBreakdown terms;
        Predictions? predictions = null;
        using (var scope = Torch.NewDisposeScope())
        {
            var x = Tensor.Cat([view1, view2], 0);                                          // [2N, C, H, W]
            NoisedImages? noised = c.AddsNoise ? GaussianNoise.Apply(x, c.SigmaMax, generator, given?.Sigma, given?.Eps) : null;
            var input = noised?.Noisy ?? x;
            var tokens = Encoder.Embed(input);                                               // [2N, L, D]
            var masked = RandomMasking.Apply(tokens, c.MaskRatio, generator, given?.MaskNoise);
            var latent = Encoder.Encode(masked.Visible);                                     // [2N, (1+)Lv, D]

            var z = Head.Forward(ProjectionHead.MeanPool(latent, Encoder.HasClsToken));      // [2N, P]
            long n = view1.Size(0);
            var con = InfoNceLoss.Compute(z.Narrow(0, 0, n), z.Narrow(0, n, n), c.Temperature, NegativesGroup);
            loss = con.Loss * c.ContrastiveWeight;
            Tensor? recon = null, denoise = null;
            if (Decoder is not null)
            {
                var bias = SigmaEmbed is not null && noised is not null ? SigmaEmbed.Forward(noised.Sigma) : null;   // [2N, Dd]
                var pred = Decoder.Forward(latent, masked.IdsRestore, bias);                // [2N, L, P]
                var r = PatchLosses.Reconstruction(pred, x, masked.Mask, p, c.NormPixLoss);
                loss = loss + r * c.ReconstructionWeight;
                recon = r;
                if (c.Denoises && noised is not null)
                {
                    var d = PatchLosses.Denoise(pred, noised.Noise, masked.Mask, p);
                    loss = loss + d * c.DenoiseWeight;
                    denoise = d;
                }
                if (keepPredictions) predictions = Predictions.Keep(scope, pred, masked.Mask, input, noised?.Noise, noised?.Sigma);
            }
            terms = LossBreakdown.Read(loss, con.Loss, recon, denoise, con.Top1);
            scope.MoveToOuter(loss);
        }
        return new StepResult(loss, terms, predictions);
    }
}
