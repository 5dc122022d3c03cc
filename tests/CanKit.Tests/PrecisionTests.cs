using CanKit.Engine;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The bf16 precision policy (<see cref="PrecisionPolicy"/>) against float32. bf16 keeps 8 significant bits, so
/// rounding to nearest has unit roundoff u = 2⁻⁸; float32's is ε = 2⁻²⁴. Tolerances below follow from these and the
/// reduction length K of each product.
/// </summary>
public class PrecisionTests
{
    private const double U = 1.0 / 256;                 // bf16 unit roundoff 2⁻⁸
    private const double Eps32 = 1.0 / (1 << 24);       // float32 unit roundoff 2⁻²⁴

    /// <summary>
    /// Elementwise bound of a product C = A·B (+ bias) computed from bf16 copies with float32 accumulation and a bf16
    /// result, against the float32 product: rounding A and B gives each term a relative error ≤ 2u + u²; float32
    /// accumulation of K terms adds ≤ K·ε of Σ|terms| to each of the two results compared; the bias's rounding adds
    /// ≤ u·|b|; rounding the result to bf16 adds ≤ u of its size. So
    /// |C_bf16 − C_32| ≤ (2u + u² + 2Kε)(1 + u)·(|A|·|B| + |b|) + u·|C_32|, with |A|·|B| computed in float64.
    /// </summary>
    private static void AssertWithinProductBound(Tensor exact, Tensor policy, Tensor absTerms, long k)
    {
        Assert.Equal(ScalarType.Float32, policy.dtype);
        Assert.Equal(exact.shape, policy.shape);
        Assert.Equal(exact.shape, absTerms.shape);
        double[] c = Approx.Values(exact), p = Approx.Values(policy), s = Approx.Values(absTerms);
        double rel = (2 * U + U * U + 2 * k * Eps32) * (1 + U), maxErr = 0;
        for (int i = 0; i < c.Length; i++)
        {
            double err = Math.Abs(p[i] - c[i]), bound = rel * s[i] + U * Math.Abs(c[i]);
            Assert.True(err <= bound, $"element {i}: float32 {c[i]:R}, bf16 policy {p[i]:R}, |difference| {err:E3} > bound {bound:E3}");
            maxErr = Math.Max(maxErr, err);
        }
        // The products really ran in bf16: two float32 products differ by at most 2Kε·max(|A|·|B|); bf16's rounding of
        // thousands of random outputs exceeds ten times that.
        Assert.True(maxErr > 10 * 2 * k * Eps32 * s.Max(), $"largest difference {maxErr:E3}: the policy did not compute in bf16");
    }

    [Fact]
    public void PolicyLinearAndItsGradientsAreWithinTheBf16RoundingBound()
    {
        const int n = 64, k = 192, m = 96;
        using var g = new Generator(3);
        using var layer = nn.Linear(k, m);
        using (torch.no_grad())
        {
            layer.weight!.normal_(0, 0.1, g);
            layer.bias!.normal_(0, 0.1, g);
        }
        using var x = torch.randn([n, k], generator: g);
        using var dy = torch.randn([n, m], generator: g);

        (Tensor y, Tensor dw, Tensor db) Run(Precision p)
        {
            layer.zero_grad();
            var y = PrecisionPolicy.Linear(layer, x, p);
            y.backward([dy]);
            return (y, layer.weight!.grad!.clone(), layer.bias!.grad!.clone());
        }
        var (y32, dw32, db32) = Run(Precision.Float32);
        var (y16, dw16, db16) = Run(Precision.BFloat16);
        using var _ = torch.NewDisposeScope();

        // Forward: K = 192 terms per output.
        var x64 = x.to(ScalarType.Float64).abs();
        var w64 = layer.weight!.detach().to(ScalarType.Float64).abs();
        var b64 = layer.bias!.detach().to(ScalarType.Float64).abs();
        AssertWithinProductBound(y32, y16, x64.matmul(w64.t()) + b64, k);

        // Gradients reach the float32 parameters as float32. dW = dYᵀ·X sums over the n = 64 rows; autograd casts dY to
        // bf16 (the backward of the output cast) and X is the bf16 copy, so the same bound holds with K = n.
        Assert.Equal(ScalarType.Float32, layer.weight!.grad!.dtype);
        var dy64 = dy.to(ScalarType.Float64).abs();
        AssertWithinProductBound(dw32, dw16, dy64.t().matmul(x64), n);
        // db = dYᵀ·1 (bf16 dY, float32 sum, bf16 result): the same bound with |A|·|B| = |dY|ᵀ·1.
        AssertWithinProductBound(db32, db16, dy64.t().matmul(torch.ones(n, ScalarType.Float64)), n);
        foreach (var t in new[] { y32, dw32, db32, y16, dw16, db16 }) t.Dispose();
    }

    /// <summary>
    /// The CPU's bf16 attention (two bf16 matmuls around a float32 softmax) against float32 SDPA, elementwise, to first
    /// order: the scores s = q·kᵀ/√hd carry E_s = the product bound (K = hd) + u·|s| (the bf16 result); the softmax
    /// p moves by |Δp_j| ≤ p_j·(E_s,j + Σ_i p_i·E_s,i), plus u·p_j for its bf16 copy; o = p·v then carries
    /// Σ_j E_p,j·|v_j| + the product bound (K = L) of p·|v| + u·|o|. Second-order terms are below 10 % of the bound
    /// while E_s ≤ 0.05 (asserted), hence the factor 1.1.
    /// </summary>
    [Fact]
    public void PolicyAttentionIsWithinTheFirstOrderBf16Bound()
    {
        const int n = 2, h = 3, l = 16, hd = 32;
        using var g = new Generator(11);
        using var q = torch.randn([n, h, l, hd], generator: g).mul_(0.5);   // scores of O(1), as after LayerNorm and qkv
        using var k = torch.randn([n, h, l, hd], generator: g).mul_(0.5);
        using var v = torch.randn([n, h, l, hd], generator: g);
        using var _ = torch.NewDisposeScope();
        var exact = PrecisionPolicy.Attention(q, k, v, Precision.Float32);
        var policy = PrecisionPolicy.Attention(q.to(ScalarType.BFloat16), k.to(ScalarType.BFloat16), v.to(ScalarType.BFloat16), Precision.BFloat16);
        Assert.Equal(ScalarType.BFloat16, policy.dtype);

        double scale = 1 / Math.Sqrt(hd);
        Tensor F64(Tensor t) => t.to(ScalarType.Float64);
        var s = F64(q).matmul(F64(k).transpose(-2, -1)) * scale;                                   // [N, H, L, L]
        var p = s.softmax(-1);
        double Rel(long terms) => (2 * U + U * U + 2 * terms * Eps32) * (1 + U);
        var es = Rel(hd) * F64(q).abs().matmul(F64(k).abs().transpose(-2, -1)) * scale + U * s.abs();
        Assert.True(es.max().item<double>() <= 0.05, "the first-order bound needs small score errors");
        var ep = p * (es + (p * es).sum([-1L], keepdim: true)) + U * p;
        var av = F64(v).abs();
        var o = p.matmul(F64(v));
        var bound = 1.1 * (ep.matmul(av) + Rel(l) * p.matmul(av) + U * o.abs());
        var err = (F64(policy) - F64(exact)).abs();
        double worst = (err / bound).max().item<double>();
        Assert.True(worst <= 1, $"largest |difference| / bound = {worst:F3}");
        Assert.True(err.max().item<double>() > 10 * 2 * l * Eps32, "the policy did not compute in bf16");
    }

    [Fact]
    public void PolicyPatchProjectionIsWithinTheBf16RoundingBound()
    {
        var cfg = new VitConfig { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 1, Heads = 2 };
        using var g = new Generator(5);
        using var conv = nn.Conv2d(3, 32, 4, stride: 4);
        using var images = torch.randn([4, 3, 16, 16], generator: g);
        using var y32 = PrecisionPolicy.PatchConv(conv, images, cfg.PatchSize, Precision.Float32);
        using var y16 = PrecisionPolicy.PatchConv(conv, images, cfg.PatchSize, Precision.BFloat16);
        using var _ = torch.NewDisposeScope();
        // The same bound as a linear layer on the patches: K = 3·4·4 = 48 terms per output.
        var patches = Patches.Patchify(images, 4).to(ScalarType.Float64).abs();             // [N, L, p·p·C] (channels last)
        var w = conv.weight!.detach().permute(0, 2, 3, 1).reshape(32, 48).to(ScalarType.Float64).abs();   // [D, p·p·C]
        var terms = (patches.matmul(w.t()) + conv.bias!.detach().to(ScalarType.Float64).abs()).transpose(1, 2).reshape(4, 32, 4, 4);   // [N, D, h, w]
        AssertWithinProductBound(y32, y16, terms, cfg.PatchDim);
    }

    /// <summary>
    /// The whole encoder has no worst-case bound worth asserting (LayerNorm and softmax can amplify), so this uses the
    /// usual first-order model: each bf16 product rounds its two inputs and its output, each a relative error uniform
    /// in [−u, u] (rms u/√3), so one product's output carries ≈ u relative rms error; independent errors of the P
    /// products on the path add in quadrature, and pre-norm blocks keep each sublayer's gain near 1. Expected relative
    /// error ≈ √P·u; asserted with a factor 4 for the gains. A policy that computed nothing in bf16 gives ~1e-7 and is
    /// caught by the lower bound (u/16); a wrong cast or layout gives errors of order 1.
    /// </summary>
    [Fact]
    public void EncoderForwardAndGradientsFollowFloat32WithinBf16Error()
    {
        var cfg = new VitConfig { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 64, Depth = 2, Heads = 2, ClsToken = false };
        using var g32 = new Generator(7);
        using var g16 = new Generator(7);
        using var vit32 = new VisionTransformer(cfg, g32);
        using var vit16 = new VisionTransformer(cfg with { Precision = Precision.BFloat16 }, g16);
        using var gx = new Generator(8);
        using var images = torch.randn([8, 3, 16, 16], generator: gx);
        using var probe = torch.randn([8, cfg.NumPatches, cfg.Width], generator: gx);   // a fixed random direction for the loss

        (double[] y, double[] grads) Run(VisionTransformer vit)
        {
            using var scope = torch.NewDisposeScope();
            vit.zero_grad();
            var y = vit.call(images);
            Assert.Equal(ScalarType.Float32, y.dtype);
            (y * probe).sum().backward();
            var grads = vit.parameters().Select(p =>
            {
                Assert.Equal(ScalarType.Float32, p.dtype);
                Assert.Equal(ScalarType.Float32, p.grad!.dtype);
                return p.grad!.flatten();
            }).ToArray();
            return (Approx.Values(y), Approx.Values(torch.cat(grads)));
        }
        var (y32, d32) = Run(vit32);
        var (y16, d16) = Run(vit16);

        static double RelErr(double[] a, double[] b) =>
            Math.Sqrt(a.Zip(b, (p, q) => (p - q) * (p - q)).Sum() / a.Sum(p => p * p));
        int forwardProducts = 1 + 6 * cfg.Depth;          // patch projection; qkv, q·kᵀ, weights·v, proj, fc1, fc2 per block
        double yErr = RelErr(y32, y16), forwardTol = 4 * Math.Sqrt(forwardProducts) * U;
        Assert.InRange(yErr, U / 16, forwardTol);
        // Backward: every forward product has two backward products (input and weight gradients), and the gradients
        // also carry the forward's errors: 3P products.
        double gErr = RelErr(d32, d16), gradTol = 4 * Math.Sqrt(3 * forwardProducts) * U;
        Assert.InRange(gErr, U / 16, gradTol);
    }

    [Fact]
    public void Float32PolicyIsTheLayersOwnArithmetic()
    {
        using var g = new Generator(9);
        using var layer = nn.Linear(16, 8);
        using var x = torch.randn([4, 16], generator: g);
        using var a = layer.call(x);
        using var b = PrecisionPolicy.Linear(layer, x, Precision.Float32);
        using var c = PrecisionPolicy.LinearCompute(layer, x, Precision.Float32);
        Assert.Equal(Approx.Values(a), Approx.Values(b));   // bit for bit
        Assert.Equal(Approx.Values(a), Approx.Values(c));
        Assert.Equal(Precision.Float32, new VitConfig().Precision);
    }

    [Theory]
    [InlineData("fpu avx512f avx512bw avx512vl", false)]
    [InlineData("fpu avx512f avx512_bf16", true)]
    [InlineData("fpu amx_tile amx_bf16 amx_int8", true)]
    [InlineData("", false)]
    public void NativeBf16NeedsAvx512Bf16OrAmx(string flags, bool native) =>
        Assert.Equal(native, CpuFeatures.NativeBf16(flags.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    [Theory]
    [InlineData("fp32", Precision.Float32)]
    [InlineData("float32", Precision.Float32)]
    [InlineData(" BF16 ", Precision.BFloat16)]
    [InlineData("bfloat16", Precision.BFloat16)]
    public void PrecisionByName(string name, Precision expected) => Assert.Equal(expected, PrecisionPolicy.Parse(name, CPU));

    [Fact]
    public void AutoIsBf16ExactlyWhereTheDeviceComputesItNatively()
    {
        var expected = CpuFeatures.HasNativeBf16 ? Precision.BFloat16 : Precision.Float32;
        Assert.Equal(expected, PrecisionPolicy.Default(CPU));
        Assert.Equal(expected, PrecisionPolicy.Parse("auto", CPU));
        Assert.Equal(Precision.BFloat16, PrecisionPolicy.Default(new Device(DeviceType.CUDA, 0)));
        var e = Assert.Throws<ArgumentException>(() => PrecisionPolicy.Parse("fp16", CPU));
        Assert.Equal("unknown precision 'fp16' (expected auto, fp32 or bf16)", e.Message);
    }
}
