namespace CanKit.Vision;

/// <summary>
/// Multi-head self-attention, timm layout: <c>qkv</c> Linear(D, 3D) and <c>proj</c> Linear(D, D). The product
/// softmax(q·kᵀ/√hd)·v runs in <c>scaled_dot_product_attention</c> (libtorch picks the fused kernel per device).
/// With <see cref="Precision.BFloat16"/> qkv, the two attention products and proj run in bf16, the softmax in float32
/// (<see cref="PrecisionPolicy.Attention"/>), and only proj's output is cast back to float32.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    private readonly int _heads;
    private readonly Precision _precision;
    private readonly Linear qkv;
    private readonly Linear proj;

    public Linear Qkv => qkv;
    public Linear Proj => proj;

    public Attention(int width, int heads, Generator? generator = null, Precision precision = Precision.Float32) : base(nameof(Attention))
    {
        if (heads <= 0 || width % heads != 0) throw new ArgumentOutOfRangeException(nameof(heads), heads, $"heads must divide the width {width}");
        _heads = heads;
        _precision = precision;
        qkv = TransformerInit.Linear(width, 3L * width, generator);
        proj = TransformerInit.Linear(width, width, generator);
        RegisterComponents();
    }

    /// <summary>[N, L, D] → [N, L, D].</summary>
    public override Tensor forward(Tensor x)
    {
        long n = x.size(0), l = x.size(1), d = x.size(2), hd = d / _heads;
        using var packed = PrecisionPolicy.LinearCompute(qkv, x, _precision); // [N, L, 3·D], compute dtype
        using var split = packed.view(n, l, 3, _heads, hd);                   // [N, L, 3, H, hd]
        using var heads = split.permute(2, 0, 3, 1, 4);                       // [3, N, H, L, hd]
        using var q = heads[0];                                               // [N, H, L, hd]
        using var k = heads[1];
        using var v = heads[2];
        using var o = PrecisionPolicy.Attention(q, k, v, _precision);        // [N, H, L, hd], compute dtype
        using var tokenMajor = o.transpose(1, 2);                             // [N, L, H, hd]
        using var merged = tokenMajor.reshape(n, l, d);                       // [N, L, D], heads merged
        return PrecisionPolicy.Linear(proj, merged, _precision);              // float32
    }
}

/// <summary>
/// The transformer MLP, timm layout: <c>fc1</c> Linear(D, hidden) → GELU (exact, erf) → <c>fc2</c> Linear(hidden, D).
/// With <see cref="Precision.BFloat16"/> fc1, GELU (computed in float32 per element, stored as bf16) and fc2 run in
/// bf16 and fc2's output is cast back to float32.
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Precision _precision;
    private readonly Linear fc1;
    private readonly Linear fc2;

    public Linear Fc1 => fc1;
    public Linear Fc2 => fc2;

    public Mlp(int width, int hidden, Generator? generator = null, Precision precision = Precision.Float32) : base(nameof(Mlp))
    {
        _precision = precision;
        fc1 = TransformerInit.Linear(width, hidden, generator);
        fc2 = TransformerInit.Linear(hidden, width, generator);
        RegisterComponents();
    }

    /// <summary>[N, L, D] → [N, L, D].</summary>
    public override Tensor forward(Tensor x)
    {
        using var h = PrecisionPolicy.LinearCompute(fc1, x, _precision);   // [N, L, hidden], compute dtype
        using var a = nn.functional.gelu(h);
        return PrecisionPolicy.Linear(fc2, a, _precision);                 // [N, L, D] float32
    }
}

/// <summary>
/// Pre-norm transformer block: x + attn(norm1(x)), then + mlp(norm2(·)). Names: norm1, attn, norm2, mlp. The residual
/// stream and both LayerNorms are float32 in every <see cref="Precision"/>; only attn's and mlp's products follow it.
/// </summary>
public sealed class Block : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly Attention attn;
    private readonly LayerNorm norm2;
    private readonly Mlp mlp;

    public LayerNorm Norm1 => norm1;
    public Attention Attn => attn;
    public LayerNorm Norm2 => norm2;
    public Mlp Mlp => mlp;

    public Block(int width, int heads, double mlpRatio, double eps, Generator? generator = null, Precision precision = Precision.Float32) : base(nameof(Block))
    {
        norm1 = nn.LayerNorm(width, eps);
        attn = new Attention(width, heads, generator, precision);
        norm2 = nn.LayerNorm(width, eps);
        mlp = new Mlp(width, (int)(width * mlpRatio), generator, precision);
        RegisterComponents();
    }

    /// <summary>[N, L, D] → [N, L, D].</summary>
    public override Tensor forward(Tensor x)
    {
        using var n1 = norm1.call(x);
        using var a = attn.call(n1);
        using var h = x + a;                       // [N, L, D]
        using var n2 = norm2.call(h);
        using var m = mlp.call(n2);
        return h + m;
    }
}
