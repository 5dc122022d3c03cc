using CanKit.Nn;

namespace CanKit.Vision;

/// <summary>Multi-head self-attention, timm layout: <c>qkv</c> Linear(D, 3D) and <c>proj</c> Linear(D, D).</summary>
public sealed class Attention : Module<Tensor, Tensor>
{
    private readonly int _heads;
    public Linear Qkv { get; }
    public Linear Proj { get; }

    public Attention(int width, int heads, Generator? generator = null)
    {
        if (width % heads != 0) throw new ArgumentOutOfRangeException(nameof(heads), heads, $"heads must divide the width {width}");
        _heads = heads;
        Qkv = RegisterModule("qkv", new Linear(width, 3L * width, generator: generator));
        Proj = RegisterModule("proj", new Linear(width, width, generator: generator));
    }

    /// <summary>[N, L, D] → [N, L, D].</summary>
    public override Tensor Forward(Tensor x)
    {
        using var qkv = Qkv.Forward(x);                                  // [N, L, 3·D] = [N, L, 3, H, hd]
        using var o = Functional.SelfAttention(qkv, _heads);              // [N, L, D], heads merged
        return Proj.Forward(o);
    }
}

/// <summary>The transformer MLP, timm layout: <c>fc1</c> Linear(D, hidden) → GELU → <c>fc2</c> Linear(hidden, D).</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    public Linear Fc1 { get; }
    public Linear Fc2 { get; }

    public Mlp(int width, int hidden, Generator? generator = null)
    {
        Fc1 = RegisterModule("fc1", new Linear(width, hidden, generator: generator));
        Fc2 = RegisterModule("fc2", new Linear(hidden, width, generator: generator));
    }

    public override Tensor Forward(Tensor x)
    {
        using var a = Functional.LinearGelu(x, Fc1.Weight, Fc1.Bias);   // GELU(fc1(x)), fused on CPU
        return Fc2.Forward(a);
    }
}

/// <summary>Pre-norm transformer block: x + attn(norm1(x)), then + mlp(norm2(x)). Names: norm1, attn, norm2, mlp.</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    public LayerNorm Norm1 { get; }
    public Attention Attn { get; }
    public LayerNorm Norm2 { get; }
    public Mlp Mlp { get; }

    public Block(int width, int heads, double mlpRatio, double eps, Generator? generator = null)
    {
        Norm1 = RegisterModule("norm1", new LayerNorm(width, eps));
        Attn = RegisterModule("attn", new Attention(width, heads, generator));
        Norm2 = RegisterModule("norm2", new LayerNorm(width, eps));
        Mlp = RegisterModule("mlp", new Mlp(width, (int)(width * mlpRatio), generator));
    }

    /// <summary>[N, L, D] → [N, L, D].</summary>
    public override Tensor Forward(Tensor x)
    {
        Tensor h1, n2;
        using (var n1 = Norm1.Forward(x))
        using (var a = Attn.Forward(n1))
            (h1, n2) = Norm2.Forward(x, a);   // h1 = x + a, n2 = norm2(h1), one pass
        using (h1)
        using (n2)
        using (var m = Mlp.Forward(n2))
            return h1 + m;
    }
}
