using CanKit.Tensors;

namespace CanKit.Vision;

/// <summary>Decoder shape (MAE's lightweight decoder: 8 × 512 × 16 heads at ViT scale; 2 × 128 × 4 for 32 px).</summary>
public sealed record DecoderConfig
{
    private readonly int _width = 512, _depth = 8, _heads = 16;

    /// <summary>Decoder token width. MAE: 512; the reference 32-px config: 128.</summary>
    public int Width { get => _width; init => _width = ConfigRules.Positive(value, nameof(Width)); }

    /// <summary>Decoder blocks. MAE: 8 (fewer is cheaper, slightly worse for fine-tuning); CMAE's feature decoder: 2.</summary>
    public int Depth { get => _depth; init => _depth = ConfigRules.Positive(value, nameof(Depth)); }

    /// <summary>Decoder heads; must divide Width.</summary>
    public int Heads { get => _heads; init => _heads = ConfigRules.Positive(value, nameof(Heads)); }

    public double MlpRatio { get; init; } = 4;

    public static DecoderConfig Mae => new() { Width = 512, Depth = 8, Heads = 16 };
    public static DecoderConfig Small32 => new() { Width = 128, Depth = 2, Heads = 4 };

    public DecoderConfig Validate()
    {
        if (Width % Heads != 0) throw new ArgumentOutOfRangeException(nameof(Heads), Heads, $"heads must divide the decoder width {Width}");
        if (Width % 4 != 0)
            throw new ArgumentOutOfRangeException(nameof(Width), Width,
                "decoder width must be divisible by 4 (2-D sin-cos position embedding)");
        return this;
    }
}

/// <summary>
/// MAE's decoder: embed encoder tokens to the decoder width, append learned [M] tokens for the removed patches,
/// unshuffle to image order, add fixed position embeddings (and optionally a per-sample vector to every token,
/// e.g. CAN's σ embedding), run blocks and a norm, then (optionally) a linear pixel head.
/// Names: <c>embed</c>, <c>mask_token</c>, <c>pos_embed</c>, <c>blocks.{i}</c>, <c>norm</c>, <c>pred</c>. Its products
/// follow the encoder's <see cref="VitConfig.Precision"/>; its output is float32 (the pixel losses are float32).
/// </summary>
public sealed class MaeDecoder : nn.Module<Tensor, Tensor, Tensor>
{
    // Fields carry the state-dict names: RegisterComponents() and Module.to() find components by field name.
    private readonly Linear embed;
    private Parameter mask_token;
    private Tensor pos_embed;
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm norm;
    private readonly Linear? pred;
    private readonly Block[] _blockList;
    private readonly VitConfig _enc;

    public DecoderConfig Config { get; }
    public Linear Embed => embed;
    public Parameter MaskToken => mask_token;
    public Tensor PosEmbed => pos_embed;
    public IReadOnlyList<Block> Blocks => _blockList;
    public LayerNorm Norm => norm;
    public Linear? Pred => pred;

    /// <param name="encoder">The encoder's config (width, grid, [CLS], patch size, channels).</param>
    /// <param name="config">The decoder's own shape (width, depth, heads, MLP ratio).</param>
    /// <param name="pixelHead">Add the linear head to p·p·C pixel values (false for CMAE's feature decoder).</param>
    /// <param name="generator">Draws the initial weights (libtorch's global generator when null).</param>
    public MaeDecoder(VitConfig encoder, DecoderConfig config, bool pixelHead = true, Generator? generator = null) : base(nameof(MaeDecoder))
    {
        _enc = encoder.Validate();
        Config = config.Validate();
        int d = config.Width;
        embed = TransformerInit.Linear(encoder.Width, d, generator);
        mask_token = nn.Parameter(torch.zeros(1, 1, d).normal_(0, 0.02, generator));   // MAE: N(0, 0.02); nn.init.normal_ ignores a generator
        var trunk = new TransformerTrunk(d, config.Depth, config.Heads, config.MlpRatio, encoder.LayerNormEps, encoder.GridSize, encoder.ClsToken,
                                         generator, encoder.Precision);
        (pos_embed, _blockList, norm) = (trunk.Positions, trunk.Blocks, trunk.Norm);              // [1, (1+)L, Dd], blocks, norm
        blocks = nn.ModuleList(_blockList);
        if (pixelHead) pred = TransformerInit.Linear(d, encoder.PatchDim, generator);
        RegisterComponents();
        TransformerInit.Apply(this, generator);
    }

    /// <summary>Encoded visible tokens and <paramref name="idsRestore"/> → predictions, without a token bias.</summary>
    public override Tensor forward(Tensor encoded, Tensor idsRestore) => forward(encoded, idsRestore, null);

    /// <summary>
    /// Encoded visible tokens [N, (1+)Lv, D] and <paramref name="idsRestore"/> [N, L] → [N, L, P] pixel
    /// predictions (or [N, L, Dd] features without a pixel head), [CLS] removed. <paramref name="tokenBias"/>
    /// [N, Dd], when given, is added to every token after the position embedding.
    /// </summary>
    public Tensor forward(Tensor encoded, Tensor idsRestore, Tensor? tokenBias)
    {
        int off = _enc.ClsToken ? 1 : 0;
        if (encoded.dim() != 3 || encoded.size(2) != _enc.Width || encoded.size(1) <= off)
            throw new ArgumentException($"the decoder expects encoded tokens [N, (1+)Lv, {_enc.Width}], got " +
                                        $"{Shapes.Of(encoded.shape)}", nameof(encoded));
        long n = encoded.size(0), lv = encoded.size(1) - off, d = Config.Width, l = _enc.NumPatches;
        if (idsRestore.dim() != 2 || idsRestore.size(0) != n || idsRestore.size(1) != l)
            throw new ArgumentException($"idsRestore must be [N, L] = [{n}, {l}], got {Shapes.Of(idsRestore.shape)}", nameof(idsRestore));
        if (tokenBias is not null && (tokenBias.dim() != 2 || tokenBias.size(0) != n || tokenBias.size(1) != d))
            throw new ArgumentException($"tokenBias must be [N, Dd] = [{n}, {d}], got {Shapes.Of(tokenBias.shape)}", nameof(tokenBias));
        using var x = PrecisionPolicy.Linear(embed, encoded, _enc.Precision);       // [N, (1+)Lv, Dd] float32
        using var patches = x.narrow(1, off, lv);                                   // [N, Lv, Dd]
        using var masks = mask_token.expand(n, l - lv, d);                          // [N, L−Lv, Dd]
        using var shuffled = torch.cat([patches, masks], 1);                        // [N, L, Dd] kept-then-removed
        using var ordered = Tensors.Tokens.Gather(shuffled, idsRestore);  // [N, L, Dd] image order
        using var cls = x.narrow(1, 0, off);                                        // [N, 0 or 1, Dd]
        using var seq = torch.cat([cls, ordered], 1);                               // [N, (1+)L, Dd]
        Tensor h = seq + pos_embed;
        if (tokenBias is not null)
        {
            using var bias = tokenBias.unsqueeze(1);                                // [N, 1, Dd]
            using var prev = h;
            h = prev + bias;
        }
        h = TransformerTrunk.RunBlocks(_blockList, h);
        using (h)
        using (var normed = norm.call(h))
        using (var body = normed.narrow(1, off, l))                                 // [N, L, Dd]
            return pred is null ? body.contiguous() : PrecisionPolicy.Linear(pred, body, _enc.Precision);   // [N, L, P] float32
    }
}
