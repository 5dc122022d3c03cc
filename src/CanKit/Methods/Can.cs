using CanKit.Distributed;
using CanKit.Objectives;
using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>
/// CAN (Mishra et al. 2022): two views per image, each noised (σ·e, σ ~ U[0, σmax]) and masked; the encoder sees
/// only visible noisy patches. Losses: InfoNCE on the projected mean of visible tokens; reconstruction of the clean
/// (official code: noisy) pixels of masked patches; prediction of the added noise on visible patches, with σ given to
/// the decoder by <see cref="SigmaEmbedding"/>. Both views run as one stacked batch [2N, …] (view 1 first).
/// Submodules: <c>encoder</c>, <c>decoder</c>, <c>sigma_embed</c> (when denoising with the σ embedding), <c>head</c>.
/// </summary>
public sealed class Can : nn.Module, IGlobalNegatives
{
    // Fields carry the state-dict names: RegisterComponents() registers them by field name.
    private readonly IEncoder encoder;
    private readonly MaeDecoder? decoder;
    private readonly SigmaEmbedding? sigma_embed;
    private readonly Sequential head;

    public CanConfig Config { get; }

    /// <inheritdoc/>
    public ProcessGroup? NegativesGroup { get; set; }
    public IEncoder Encoder => encoder;
    public MaeDecoder? Decoder => decoder;
    public SigmaEmbedding? SigmaEmbed => sigma_embed;
    public Sequential Head => head;

    public Can(CanConfig config, Generator? generator = null)
        : this(config, new VisionTransformer(config.Validate().Encoder, generator), generator) { }

    /// <summary>Builds CAN around <paramref name="encoder"/> (registered as <c>encoder</c> if it is a module).</summary>
    public Can(CanConfig config, IEncoder encoder, Generator? generator = null) : base(nameof(Can))
    {
        Config = config.Validate();
        this.encoder = encoder;
        if (config.RunsDecoder) decoder = new MaeDecoder(config.Encoder, config.Decoder, pixelHead: true, generator);
        if (config.Denoises && config.SigmaEmbedding && decoder is not null)
            sigma_embed = new SigmaEmbedding(config.SigmaWidth, config.SigmaScale, generator, config.SigmaFeatures, config.SigmaFrequencies);
        head = ProjectionHead.Create(encoder.Width, config.HeadHidden, config.ProjectionDim, generator);
        RegisterComponents();
    }

    /// <summary>
    /// One CAN step on two augmented views [N, C, H, W] of the same images. Randomness comes from
    /// <paramref name="generator"/> unless fixed by <paramref name="given"/> (mask noise [2N, L], σ [2N],
    /// e [2N, C, H, W]). The returned loss belongs to the caller's dispose scope.
    /// </summary>
    public StepResult Forward(Tensor view1, Tensor view2, Generator? generator = null, StepRandomness? given = null, bool keepPredictions = false)
    {
        if (!view1.shape.SequenceEqual(view2.shape))
            throw new ArgumentException($"the views differ in shape: {Shapes.Of(view1)} vs {Shapes.Of(view2)}", nameof(view2));
        var c = Config;
        int p = c.Encoder.PatchSize;
        Tensor loss;
        LossBreakdown terms;
        Predictions? predictions = null;
        using (var scope = torch.NewDisposeScope())
        {
            var x = torch.cat([view1, view2], 0);                                          // [2N, C, H, W]
            NoisedImages? noised = c.AddsNoise ? GaussianNoise.Apply(x, c.SigmaMax, generator, given?.Sigma, given?.Eps) : null;
            var input = noised?.Noisy ?? x;
            var tokens = encoder.Embed(input);                                               // [2N, L, D]
            var masked = RandomMasking.Apply(tokens, c.MaskRatio, generator, given?.MaskNoise);
            var latent = encoder.Encode(masked.Visible);                                     // [2N, (1+)Lv, D]

            var pooled = c.PoolIncludesCls ? latent.mean([1]) : ProjectionHead.MeanPool(latent, encoder.HasClsToken);   // [2N, D]
            var z = head.call(pooled);                                                       // [2N, P]
            long n = view1.size(0);
            var con = InfoNceLoss.Compute(z.narrow(0, 0, n), z.narrow(0, n, n), c.Temperature, NegativesGroup);
            loss = con.Loss * c.ContrastiveWeight;
            Tensor? recon = null, denoise = null;
            if (decoder is not null)
            {
                var sigmaEmb = sigma_embed is not null && noised is not null ? sigma_embed.call(noised.Sigma) : null;   // [2N, Dd or D]
                var atEncoder = sigmaEmb is not null && c.SigmaAt == SigmaInjection.EncoderOutput;
                var decoderIn = atEncoder ? latent + sigmaEmb!.unsqueeze(1) : latent;        // [2N, (1+)Lv, D]
                var pred = decoder.forward(decoderIn, masked.IdsRestore, atEncoder ? null : sigmaEmb);   // [2N, L, P]
                var target = c.ReconstructionTarget == ReconstructionTarget.Noisy ? input : x;
                recon = PatchLosses.Reconstruction(pred, target, masked.Mask, p, c.NormPixLoss);
                loss = loss + recon * c.ReconstructionWeight;
                if (c.Denoises && noised is not null)
                {
                    denoise = PatchLosses.Denoise(pred, noised.Noise, masked.Mask, p);
                    loss = loss + denoise * c.DenoiseWeight;
                }
                if (keepPredictions) predictions = Predictions.Keep(scope, pred, masked.Mask, input, noised?.Noise, noised?.Sigma);
            }
            terms = LossBreakdown.Read(loss, con.Loss, recon, denoise, con.Top1);
            loss.MoveToOuterDisposeScope();
        }
        return new StepResult(loss, terms, predictions);
    }
}
