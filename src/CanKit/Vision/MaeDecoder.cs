using CanKit.Nn;

namespace CanKit.Vision;

/// <summary>Decoder shape (MAE's lightweight decoder: 8 × 512 × 16 heads at ViT scale; 2 × 128 × 4 for 32 px).</summary>
public sealed record DecoderConfig
{
    private readonly int _width = 512, _depth = 8, _heads = 16;

    /// <summary>Decoder token width. MAE: 512; the reference 32-px config: 128.</summary>
    public int Width { get => _width; init => _width = VitConfig.Positive(value, nameof(Width)); }

    /// <summary>Decoder blocks. MAE: 8 (fewer is cheaper, slightly worse for fine-tuning); CMAE's feature decoder: 2.</summary>
    public int Depth { get => _depth; init => _depth = VitConfig.Positive(value, nameof(Depth)); }

    /// <summary>Decoder heads; must divide Width.</summary>
    public int Heads { get => _heads; init => _heads = VitConfig.Positive(value, nameof(Heads)); }

    public double MlpRatio { get; init; } = 4;

    public static DecoderConfig Mae => new() { Width = 512, Depth = 8, Heads = 16 };
    public static DecoderConfig Small32 => new() { Width = 128, Depth = 2, Heads = 4 };

    public DecoderConfig Validate()
    {
        if (Width % Heads != 0) throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"heads must divide the decoder width {Width}");
        if (Width % 4 != 0) throw new ArgumentOutOfRangeException(nameof(Width), Width, "decoder width must be divisible by 4 (2-D sin-cos position embedding)");
        return this;
    }
}

/// <summary>
/// MAE's decoder: embed encoder tokens to the decoder width, append learned [M] tokens for the removed patches,
/// unshuffle to image order, add fixed position embeddings (and optionally a per-sample vector to every token,
/// e.g. CAN's σ embedding), run blocks and a norm, then (optionally) a linear pixel head.
/// Names: <c>embed</c>, <c>mask_token</c>, <c>pos_embed</c>, <c>blocks.{i}</c>, <c>norm</c>, <c>pred</c>.
/// </summary>
public sealed class MaeDecoder : Module
{
    private readonly VitConfig _enc;
    public DecoderConfig Config { get; }
    public Linear Embed { get; }
    public Tensor MaskToken { get; }
    public Tensor PosEmbed { get; }
    public IReadOnlyList<Block> Blocks { get; }
    public LayerNorm Norm { get; }
    public Linear? Pred { get; }

    /// <param name="encoder">The encoder's config (width, grid, [CLS], patch size, channels).</param>
    /// <param name="config">The decoder's own shape (width, depth, heads, MLP ratio).</param>
    /// <param name="pixelHead">Add the linear head to p·p·C pixel values (false for CMAE's feature decoder).</param>
    /// <param name="generator">Draws the initial weights (libtorch's default generator when null).</param>
    public MaeDecoder(VitConfig encoder, DecoderConfig config, bool pixelHead = true, Generator? generator = null)
    {
        _enc = encoder.Validate();
        Config = config.Validate();
        int d = config.Width;
        Embed = RegisterModule("embed", new Linear(encoder.Width, d, generator: generator));
        MaskToken = RegisterParameter("mask_token", Init.Normal_(Tensor.Zeros([1, 1, d]), 0, 0.02, generator));
        using (var pe = PositionEmbedding.SinCos2D(d, encoder.GridSize, encoder.ClsToken))
            PosEmbed = RegisterBuffer("pos_embed", pe.Unsqueeze(0));
        var list = RegisterModule("blocks", new ModuleList());
        var blocks = new List<Block>();
        for (int i = 0; i < config.Depth; i++) blocks.Add(list.Add(new Block(d, config.Heads, config.MlpRatio, encoder.LayerNormEps, generator)));
        Blocks = blocks;
        Norm = RegisterModule("norm", new LayerNorm(d, encoder.LayerNormEps));
        if (pixelHead) Pred = RegisterModule("pred", new Linear(d, encoder.PatchDim, generator: generator));
        TransformerInit.Apply(this, generator);
    }

    /// <summary>
    /// Encoded visible tokens [N, (1+)Lv, D] and <paramref name="idsRestore"/> [N, L] → [N, L, P] pixel
    /// predictions (or [N, L, Dd] features without a pixel head), [CLS] removed. <paramref name="tokenBias"/>
    /// [N, Dd], when given, is added to every token after the position embedding.
    /// </summary>
    public Tensor Forward(Tensor encoded, Tensor idsRestore, Tensor? tokenBias = null)
    {
        int off = _enc.ClsToken ? 1 : 0;
        long n = encoded.Size(0), l = idsRestore.Size(1), lv = encoded.Size(1) - off, d = Config.Width;
        using var x = Embed.Forward(encoded);                                       // [N, (1+)Lv, Dd]
        using var patches = x.Narrow(1, off, lv);                                   // [N, Lv, Dd]
        using var masks = MaskToken.Expand(n, l - lv, d);                          // [N, L−Lv, Dd]
        using var shuffled = Tensor.Cat([patches, masks], 1);                       // [N, L, Dd] kept-then-removed
        using var ordered = Objectives.RandomMasking.Gather(shuffled, idsRestore);  // [N, L, Dd] image order
        using var seq = off == 1 ? Tensor.Cat([x.Narrow(1, 0, 1), ordered], 1) : ordered.Alias();  // [N, (1+)L, Dd]
        Tensor h = seq + PosEmbed;
        if (tokenBias is not null)
        {
            using var bias = tokenBias.Unsqueeze(1);                                // [N, 1, Dd]
            using var prev = h;
            h = prev + bias;
        }
        foreach (var b in Blocks)
        {
            var next = b.Forward(h);
            h.Dispose();
            h = next;
        }
        using (h)
        using (var normed = Norm.Forward(h))
        using (var body = normed.Narrow(1, off, l))                                 // [N, L, Dd]
            return Pred is null ? body.Contiguous() : Pred.Forward(body);           // [N, L, P]
    }
}
