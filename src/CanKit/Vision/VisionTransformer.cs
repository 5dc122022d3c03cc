using CanKit.Nn;

namespace CanKit.Vision;

/// <summary>
/// Pre-norm ViT encoder that can drop tokens (MAE-style). Parameter names follow timm's VisionTransformer:
/// <c>patch_embed.proj.{weight,bias}</c>, <c>cls_token</c>, <c>pos_embed</c> (fixed 2-D sin-cos, saved as a buffer),
/// <c>blocks.{i}.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*</c>, <c>norm.*</c>.
/// </summary>
public sealed class VisionTransformer : Module, IEncoder
{
    public VitConfig Config { get; }
    public Tensor PatchWeight { get; }   // patch_embed.proj.weight [D, C, p, p]
    public Tensor PatchBias { get; }     // patch_embed.proj.bias [D]
    public Tensor? ClsTokenParam { get; } // cls_token [1, 1, D]
    public Tensor PosEmbed { get; }      // pos_embed [1, (1+)L, D]
    public IReadOnlyList<Block> Blocks { get; }
    public LayerNorm Norm { get; }

    public VisionTransformer(VitConfig config, Generator? generator = null)
    {
        Config = config.Validate();
        int d = config.Width;
        var patchEmbed = RegisterModule("patch_embed", new PatchEmbed(config, generator));
        PatchWeight = patchEmbed.Weight;
        PatchBias = patchEmbed.Bias;
        if (config.ClsToken)
            ClsTokenParam = RegisterParameter("cls_token", Init.Normal_(Tensor.Zeros([1, 1, d]), 0, 0.02, generator));
        using (var pe = PositionEmbedding.SinCos2D(d, config.GridSize, config.ClsToken))
            PosEmbed = RegisterBuffer("pos_embed", pe.Unsqueeze(0));
        var blocks = new List<Block>();
        var seq = RegisterModule("blocks", new ModuleList());
        for (int i = 0; i < config.Depth; i++)
            blocks.Add(seq.Add(new Block(d, config.Heads, config.MlpRatio, config.LayerNormEps, generator)));
        Blocks = blocks;
        Norm = RegisterModule("norm", new LayerNorm(d, config.LayerNormEps));
        TransformerInit.Apply(this, generator);
        patchEmbed.ResetParameters(generator);
    }

    public int Width => Config.Width;
    public bool HasClsToken => Config.ClsToken;

    /// <summary>Patch tokens with position embedding: [N, C, H, W] → [N, L, D].</summary>
    public Tensor Embed(Tensor images)
    {
        using var conv = Functional.Conv2d(images, PatchWeight, PatchBias, stride: (Config.PatchSize, Config.PatchSize));  // [N, D, h, w]
        using var flat = conv.Flatten(2);                                                                                 // [N, D, L]
        using var tokens = flat.Transpose(1, 2);                                                                          // [N, L, D]
        using var pos = Config.ClsToken ? PosEmbed.Narrow(1, 1, Config.NumPatches) : PosEmbed.Alias();                   // [1, L, D]
        return tokens + pos;
    }

    /// <summary>
    /// Runs the blocks on already embedded (and possibly masked) patch tokens [N, Lv, D], prepending the [CLS]
    /// token when configured. Returns [N, (1+)Lv, D] after the final norm.
    /// </summary>
    public Tensor Encode(Tensor tokens)
    {
        Tensor x;
        if (ClsTokenParam is { } cls)
        {
            using var clsPos = PosEmbed.Narrow(1, 0, 1);               // [1, 1, D]
            using var c = cls + clsPos;
            using var cExp = c.Expand(tokens.Size(0), -1, -1);          // [N, 1, D]
            x = Tensor.Cat([cExp, tokens], 1);                          // [N, 1+Lv, D]
        }
        else
        {
            x = tokens.Alias();
        }
        foreach (var b in Blocks)
        {
            var next = b.Forward(x);
            x.Dispose();
            x = next;
        }
        using (x) return Norm.Forward(x);
    }

    /// <summary>Full-view features: [N, C, H, W] → [N, (1+)L, D].</summary>
    public Tensor Forward(Tensor images)
    {
        using var t = Embed(images);
        return Encode(t);
    }
}

/// <summary>Patch embedding as a strided convolution (timm: <c>patch_embed.proj</c>).</summary>
internal sealed class PatchEmbed : Module
{
    public Tensor Weight { get; }
    public Tensor Bias { get; }

    public PatchEmbed(VitConfig c, Generator? generator)
    {
        var proj = RegisterModule("proj", new ConvParams(c.Width, c.InChannels, c.PatchSize));
        Weight = proj.Weight;
        Bias = proj.Bias;
    }

    /// <summary>MAE: Xavier-uniform on the weight viewed as [D, C·p·p].</summary>
    public void ResetParameters(Generator? generator)
    {
        long[] s = Weight.Shape;
        double bound = Math.Sqrt(6.0 / (s[0] + s[1] * s[2] * s[3]));
        Init.Uniform_(Weight, -bound, bound, generator);
        Init.Zeros_(Bias);
    }

    private sealed class ConvParams : Module
    {
        public Tensor Weight { get; }
        public Tensor Bias { get; }

        public ConvParams(int outChannels, int inChannels, int k)
        {
            Weight = RegisterParameter("weight", Tensor.Zeros([outChannels, inChannels, k, k]));
            Bias = RegisterParameter("bias", Tensor.Zeros([outChannels]));
        }
    }
}
