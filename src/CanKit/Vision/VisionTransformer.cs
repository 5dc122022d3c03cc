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
        using var tokens = PatchTokens(images);                                                                           // [N, L, D]
        using var pos = Config.ClsToken ? PosEmbed.Narrow(1, 1, Config.NumPatches) : PosEmbed.Alias();                   // [1, L, D]
        return tokens + pos;
    }

    /// <summary>
    /// The patch projection [N, C, H, W] → [N, L, D]. A convolution with stride = kernel = p is one product of the
    /// patches [N·L, C·p·p] (MAE's patchify order) with the weight viewed as [D, C·p·p]: the images are cut into patches
    /// with one copy and projected by a Linear (oneDNN on CPU), whose output is already token-major; its backward is
    /// one weight-gradient product (the images need no gradient). Reference CAN batch of 128 images, forward +
    /// backward with a multiply-sum loss: 9.0–11.5 ms as a convolution, 6.3–8.0 ms this way. It goes with
    /// <see cref="Torch.DnnlLinear"/>: switched off, the convolution runs as in PyTorch (same sums, same order). Inputs
    /// whose size is not a multiple of p or whose channels do not match go to the convolution, which reports them.
    /// </summary>
    private Tensor PatchTokens(Tensor images)
    {
        long p = Config.PatchSize;
        long[] w = PatchWeight.Shape;   // [D, C, p, p]
        if (Torch.DnnlLinear && images.Dim == 4 && images.Size(1) == w[1] && images.Size(2) % p == 0 && images.Size(3) % p == 0)
        {
            long n = images.Size(0), c = w[1], gh = images.Size(2) / p, gw = images.Size(3) / p;
            using var grid = images.Reshape(n, c, gh, p, gw, p);             // [N, C, h, p, w, p]
            using var order = grid.Permute(0, 2, 4, 1, 3, 5);                // [N, h, w, C, p, p]
            using var patches = order.Reshape(n, gh * gw, c * p * p);        // [N, L, C·p·p]
            using var weight = PatchWeight.View(w[0], c * p * p);            // [D, C·p·p]
            return Functional.Linear(patches, weight, PatchBias);
        }
        using var conv = Functional.Conv2d(images, PatchWeight, PatchBias, stride: (p, p));  // [N, D, h, w]
        using var flat = conv.Flatten(2);                                                     // [N, D, L]
        return flat.Transpose(1, 2);                                                          // [N, L, D]
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
