namespace CanKit.Nn;

/// <summary>Stateless neural-network functions (PyTorch's <c>torch.nn.functional</c>).</summary>
public static class Functional
{
    private static Tensor R(TensorHandle h, string op) => NativeCheck.Result(h, op);
    private static TensorHandle Opt(Tensor? t) => t?.H ?? TensorHandle.Null;

    /// <summary>How a loss reduces over elements (values are libtorch's <c>at::Reduction</c>).</summary>
    public enum Reduction { None = 0, Mean = 1, Sum = 2 }

    public static Tensor Softmax(Tensor x, long dim) => x.Softmax(dim);
    public static Tensor LogSoftmax(Tensor x, long dim) => x.LogSoftmax(dim);
    public static Tensor Relu(Tensor x) => x.Relu();
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false) => x.Gelu(tanhApproximation);

    /// <summary>x·Wᵀ + b; x [..., in], W [out, in], b [out].</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) => Tensor.Linear(x, weight, bias);

    /// <summary>
    /// GELU(x·Wᵀ + b) with the exact (erf) GELU: a transformer MLP's first layer and its activation. Equal to
    /// <c>Gelu(Linear(x, weight, bias))</c>; for float32 on CPUs with AVX2 it runs fused (<see cref="Torch.FusedLinearGelu"/>):
    /// the activation and its derivative in one pass after the product, and one backward pass that also sums the bias
    /// gradient.
    /// </summary>
    public static Tensor LinearGelu(Tensor x, Tensor weight, Tensor? bias = null) =>
        R(Native.ck_linear_gelu(x.H, weight.H, Opt(bias)), nameof(LinearGelu));

    /// <summary>Layer norm over the trailing <paramref name="normalizedShape"/> dims.</summary>
    public static unsafe Tensor LayerNorm(Tensor x, long[] normalizedShape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
    {
        fixed (long* p = normalizedShape)
            return R(Native.ck_layer_norm(x.H, p, normalizedShape.Length, Opt(weight), Opt(bias), eps), nameof(LayerNorm));
    }

    /// <summary>
    /// <c>x + residual</c> and the layer norm of that sum in one op (a pre-norm transformer block's residual add and
    /// the norm after it): returns both. Equal to <c>s = x + residual; LayerNorm(s, …)</c>; for float32 on CPUs with
    /// AVX2, with a weight and bias over the last dimension, one pass per row forward and backward
    /// (<see cref="Torch.FusedLayerNorm"/>). <paramref name="residual"/> must have x's shape.
    /// </summary>
    public static unsafe (Tensor Sum, Tensor Normed) AddLayerNorm(Tensor x, Tensor residual, long[] normalizedShape, Tensor? weight = null,
                                                                  Tensor? bias = null, double eps = 1e-5)
    {
        IntPtr* o = stackalloc IntPtr[2];
        fixed (long* p = normalizedShape)
            NativeCheck.Status(Native.ck_add_layer_norm(x.H, residual.H, p, normalizedShape.Length, Opt(weight), Opt(bias), eps, o), nameof(AddLayerNorm));
        return (NativeCheck.Adopt(o[0])!, NativeCheck.Adopt(o[1])!);
    }

    /// <summary>Zeroes elements with probability p and scales the rest by 1/(1−p) when <paramref name="training"/>.</summary>
    public static Tensor Dropout(Tensor x, double p, bool training)
    {
        if (p < 0 || p > 1) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1]");
        return R(Native.ck_dropout(x.H, p, training ? 1 : 0), nameof(Dropout));
    }

    /// <summary>Cross-entropy of logits [N, C] against class indices [N] (int64), with optional label smoothing.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, Tensor? weight = null, Reduction reduction = Reduction.Mean,
                                      long ignoreIndex = -100, double labelSmoothing = 0)
    {
        if (labelSmoothing < 0 || labelSmoothing > 1)
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "must be in [0, 1]");
        return R(Native.ck_cross_entropy(logits.H, target.H, Opt(weight), (int)reduction, ignoreIndex, labelSmoothing), nameof(CrossEntropy));
    }

    public static Tensor MseLoss(Tensor input, Tensor target, Reduction reduction = Reduction.Mean) =>
        R(Native.ck_mse_loss(input.H, target.H, (int)reduction), nameof(MseLoss));

    /// <summary>x / max(‖x‖_p, eps) along <paramref name="dim"/>.</summary>
    public static Tensor Normalize(Tensor x, double p = 2, long dim = 1, double eps = 1e-12) =>
        R(Native.ck_normalize(x.H, p, dim, eps), nameof(Normalize));

    /// <summary>2-D convolution: x [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw].</summary>
    public static unsafe Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias = null, (long, long)? stride = null,
                                       (long, long)? padding = null, (long, long)? dilation = null, long groups = 1)
    {
        var (s0, s1) = stride ?? (1, 1);
        var (p0, p1) = padding ?? (0, 0);
        var (d0, d1) = dilation ?? (1, 1);
        long* s = stackalloc long[] { s0, s1 };
        long* p = stackalloc long[] { p0, p1 };
        long* d = stackalloc long[] { d0, d1 };
        return R(Native.ck_conv2d(x.H, weight.H, Opt(bias), s, p, d, groups), nameof(Conv2d));
    }

    /// <summary>
    /// softmax(q·kᵀ/√E + mask)·v for q [..., Lq, E], k [..., Lk, E], v [..., Lk, Ev]. Uses libtorch's fused
    /// kernel when the native layer is built against libtorch ≥ 2.0, its math path on 1.13. A bool mask marks
    /// positions that may be attended; a float mask is added to the scores.
    /// </summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor? mask = null, double dropoutP = 0, bool isCausal = false) =>
        R(Native.ck_sdpa(q.H, k.H, v.H, Opt(mask), dropoutP, isCausal ? 1 : 0), nameof(ScaledDotProductAttention));

    /// <summary>
    /// Multi-head self-attention from a packed projection: qkv [N, L, 3·D], laid out [N, L, 3, H, D/H] as a ViT
    /// block's <c>qkv</c> Linear produces it, → softmax(q·kᵀ/√(D/H))·v per head, merged back to [N, L, D].
    /// On CPU in float32/float64 this is one fused native function (see <see cref="Torch.FusedAttention"/>);
    /// elsewhere it is composed from <see cref="ScaledDotProductAttention"/>. Both give the same values.
    /// </summary>
    public static Tensor SelfAttention(Tensor qkv, int heads) =>
        R(Native.ck_self_attention(qkv.H, heads), nameof(SelfAttention));

    /// <summary>Sampling grid [N, H, W, 2] for affine maps theta [N, 2, 3] (output → input, coordinates in [−1, 1]).</summary>
    public static unsafe Tensor AffineGrid(Tensor theta, long[] size, bool alignCorners = false)
    {
        fixed (long* p = size) return R(Native.ck_affine_grid(theta.H, p, size.Length, alignCorners ? 1 : 0), nameof(AffineGrid));
    }

    public enum GridSampleMode { Bilinear = 0, Nearest = 1, Bicubic = 2 }
    public enum GridPadding { Zeros = 0, Border = 1, Reflection = 2 }

    /// <summary>Samples input [N, C, H, W] at grid [N, Ho, Wo, 2] → [N, C, Ho, Wo].</summary>
    public static Tensor GridSample(Tensor input, Tensor grid, GridSampleMode mode = GridSampleMode.Bilinear, GridPadding padding = GridPadding.Zeros, bool alignCorners = false) =>
        R(Native.ck_grid_sample(input.H, grid.H, (int)mode, (int)padding, alignCorners ? 1 : 0), nameof(GridSample));
}
