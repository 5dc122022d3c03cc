using CanKit.Tensors;

namespace CanKit.Vision;

/// <summary>
/// Pre-norm ViT encoder that can drop tokens (MAE-style). Parameter names follow timm's VisionTransformer:
/// <c>patch_embed.proj.{weight,bias}</c>, <c>cls_token</c>, <c>pos_embed</c> (fixed 2-D sin-cos, saved as a buffer),
/// <c>blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*</c>, <c>norm.*</c>.
/// <c>forward</c> (<c>call</c>) encodes full images: [N, C, H, W] → [N, (1+)L, D].
/// </summary>
public sealed class VisionTransformer : nn.Module<Tensor, Tensor>, IEncoder
{
    // Fields carry the state-dict names: RegisterComponents() and Module.to() find components by field name.
    private readonly PatchEmbed patch_embed;
    private Parameter? cls_token;
    private Tensor pos_embed;
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm norm;
    private readonly Block[] _blockList;

    public VitConfig Config { get; }

    /// <summary>patch_embed.proj.weight [D, C, p, p].</summary>
    public Parameter PatchWeight => patch_embed.Proj.weight!;

    /// <summary>patch_embed.proj.bias [D].</summary>
    public Parameter PatchBias => patch_embed.Proj.bias!;

    /// <summary>cls_token [1, 1, D], or null without a [CLS] token.</summary>
    public Parameter? ClsTokenParam => cls_token;

    /// <summary>pos_embed [1, (1+)L, D] (buffer).</summary>
    public Tensor PosEmbed => pos_embed;

    public IReadOnlyList<Block> Blocks => _blockList;
    public LayerNorm Norm => norm;

    /// <param name="config">The encoder's shape (validated here).</param>
    /// <param name="generator">Draws the initial weights (libtorch's global generator when null).</param>
    public VisionTransformer(VitConfig config, Generator? generator = null) : base(nameof(VisionTransformer))
    {
        Config = config.Validate();
        int d = config.Width;
        patch_embed = new PatchEmbed(config);
        if (config.ClsToken)
            cls_token = nn.Parameter(torch.zeros(1, 1, d).normal_(0, 0.02, generator));   // MAE: N(0, 0.02); nn.init.normal_ ignores a generator
        var trunk = new TransformerTrunk(d, config.Depth, config.Heads, config.MlpRatio, config.LayerNormEps, config.GridSize, config.ClsToken,
                                         generator, config.Precision);
        (pos_embed, _blockList, norm) = (trunk.Positions, trunk.Blocks, trunk.Norm);                  // [1, (1+)L, D], blocks, norm
        blocks = nn.ModuleList(_blockList);
        RegisterComponents();
        TransformerInit.Apply(this, generator);
        // MAE: the patch projection is Xavier-uniform on the weight viewed as [D, C·p·p] (after the Linear layers).
        TransformerInit.XavierUniform(PatchWeight, generator);
    }

    public int Width => Config.Width;
    public bool HasClsToken => Config.ClsToken;

    /// <summary>Patch tokens with position embedding: [N, C, H, W] → [N, L, D].</summary>
    public Tensor Embed(Tensor images)
    {
        CheckImages(images);
        using var tokens = patch_embed.call(images);                                                    // [N, L, D]
        using var pos = Config.ClsToken ? pos_embed.narrow(1, 1, Config.NumPatches) : pos_embed.alias(); // [1, L, D]
        return tokens + pos;
    }

    /// <summary>
    /// Runs the blocks on already embedded (and possibly masked) patch tokens [N, Lv, D], prepending the [CLS]
    /// token (with its position embedding) when configured. Returns [N, (1+)Lv, D] after the final norm.
    /// </summary>
    public Tensor Encode(Tensor tokens)
    {
        using var x = EncodeWithoutFinalNorm(tokens);
        return norm.call(x);
    }

    /// <summary>
    /// <see cref="Encode"/> without the final LayerNorm: [N, Lv, D] → [N, (1+)Lv, D] as the last block leaves it
    /// (CMAE's official target branch, <c>final_norm=False</c>).
    /// </summary>
    public Tensor EncodeWithoutFinalNorm(Tensor tokens)
    {
        if (tokens.dim() != 3 || tokens.size(2) != Config.Width)
            throw new ArgumentException($"Encode expects tokens [N, Lv, {Config.Width}], got {Shapes.Of(tokens.shape)}", nameof(tokens));
        return TransformerTrunk.RunBlocks(_blockList, WithClsToken(tokens));   // [N, (1+)Lv, D]
    }

    /// <summary>
    /// The tokens after each of the last <paramref name="count"/> blocks, each through the final norm (DINO's linear
    /// evaluation takes its features from the last blocks this way), last block last: <paramref name="count"/> tensors
    /// [N, (1+)L, D]. With a count of 1 this is <see cref="forward"/>.
    /// </summary>
    public Tensor[] ForwardLastBlocks(Tensor images, int count)
    {
        if (count < 1 || count > Config.Depth)
            throw new ArgumentOutOfRangeException(nameof(count), count, $"must be in [1, {Config.Depth}] (the encoder's depth)");
        using var scope = torch.NewDisposeScope();
        using var tokens = Embed(images);                                  // [N, L, D]
        var x = WithClsToken(tokens);                                      // [N, (1+)L, D]
        var outputs = new List<Tensor>();
        for (int i = 0; i < _blockList.Length; i++)
        {
            x = _blockList[i].call(x);
            if (i >= _blockList.Length - count) outputs.Add(norm.call(x));
        }
        foreach (var o in outputs) o.MoveToOuterDisposeScope();
        return outputs.ToArray();
    }

    // [CLS] (with its position) in front of the tokens [N, Lv, D] when the encoder has one; a new tensor either way.
    private Tensor WithClsToken(Tensor tokens)
    {
        if (cls_token is not { } cls) return tokens.alias();
        using var clsPos = pos_embed.narrow(1, 0, 1);                  // [1, 1, D]
        using var c = cls + clsPos;
        using var cExp = c.expand(tokens.size(0), -1, -1);              // [N, 1, D]
        return torch.cat([cExp, tokens], 1);                           // [N, 1+Lv, D]
    }

    /// <summary>Full-view features: [N, C, H, W] → [N, (1+)L, D].</summary>
    public override Tensor forward(Tensor images)
    {
        using var t = Embed(images);
        return Encode(t);
    }

    private void CheckImages(Tensor images)
    {
        long[] s = images.shape;
        var c = Config;
        if (s.Length != 4 || s[1] != c.InChannels || s[2] != c.ImageSize || s[3] != c.ImageSize)
            throw new ArgumentException(
                $"the encoder expects images [N, {c.InChannels}, {c.ImageSize}, {c.ImageSize}] (channels, height, width), got {Shapes.Of(s)}",
                nameof(images));
    }
}

/// <summary>
/// Patch embedding as timm's <c>patch_embed.proj</c>: a p×p convolution with stride p, whose output [N, D, h, w]
/// is flattened to tokens [N, L, D] in MAE's patch order (row-major over the grid). With
/// <see cref="Precision.BFloat16"/> the projection reads bf16 images and weights and returns float32.
/// </summary>
internal sealed class PatchEmbed : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d proj;
    private readonly int _patchSize;
    private readonly Precision _precision;

    public Conv2d Proj => proj;

    public PatchEmbed(VitConfig c) : base(nameof(PatchEmbed))
    {
        proj = nn.Conv2d(c.InChannels, c.Width, c.PatchSize, stride: c.PatchSize);
        _patchSize = c.PatchSize;
        _precision = c.Precision;
        RegisterComponents();
    }

    /// <summary>[N, C, H, W] → [N, L, D].</summary>
    public override Tensor forward(Tensor images)
    {
        using var conv = PrecisionPolicy.PatchConv(proj, images, _patchSize, _precision);   // [N, D, h, w] float32
        using var flat = conv.flatten(2);       // [N, D, L]
        return flat.transpose(1, 2);            // [N, L, D]
    }
}
