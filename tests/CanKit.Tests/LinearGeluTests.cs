using CanKit.Nn;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The fused Linear + GELU (a ViT MLP's fc1): the activation against a float64 closed form over the whole float32
/// range, values and all three gradients against libtorch's linear + gelu for the shapes a model produces (row tails,
/// no bias, one-sided gradients, strided input), and the gradients against float64. Switches process-wide settings,
/// so it runs with the other such tests.
/// </summary>
[Collection("engine-settings")]
public class LinearGeluTests
{
    /// <summary>Φ(x) in float64: ½(1 + erf(x/√2)) where that does not cancel, else the continued fraction of erfc.</summary>
    private static double NormalCdf(double x)
    {
        if (x >= -3) return 0.5 * (1 + Approx.Erf(x / Math.Sqrt(2)));
        double z = -x / Math.Sqrt(2), k = z;
        for (int n = 80; n >= 1; n--) k = z + n / 2.0 / k;   // erfc(z) = e^(−z²) / (√π · (z + ½/(z + 1/(z + 3/2/(z + …)))))
        return 0.5 * Math.Exp(-z * z) / (Math.Sqrt(Math.PI) * k);
    }

    private static double GeluExact(double x) => x * NormalCdf(x);

    [Fact]
    public void Reference_cdf_matches_known_values()
    {
        Approx.Equal(0.5, NormalCdf(0), 1e-15);
        Approx.Equal(0.15865525393145705, NormalCdf(-1), 1e-15);
        Assert.InRange(NormalCdf(-5) / 2.866515718791939e-7 - 1, -1e-12, 1e-12);
        Assert.InRange(NormalCdf(-10) / 7.619853024160527e-24 - 1, -1e-12, 1e-12);
        Assert.InRange(NormalCdf(-3.0000001) / NormalCdf(-2.9999999), 0.99999, 1.0);   // the two branches join
    }

    [Fact]
    public void Activation_is_accurate_to_a_few_ulp_over_the_float_range()
    {
        Assert.True(Torch.FusedLinearGeluAvailable, "this test expects a CPU with AVX2 and FMA");
        using var scope = Torch.NewDisposeScope();
        // x·I + 0 is exact, so the fused layer's output is its GELU of x; 13 columns exercise the row tail.
        const int cols = 13;
        var x = Tensor.Linspace(-15, 15, 13 * 20011).Reshape(-1, cols);
        var identity = new float[cols * cols];
        for (int i = 0; i < cols; i++) identity[i * cols + i] = 1;
        var eye = Tensor.From(identity, cols, cols);
        var y = Functional.LinearGelu(x, eye, Tensor.Zeros([cols]));
        var xs = x.To(DType.Float64).ToArray<double>();
        var ys = y.To(DType.Float64).ToArray<double>();
        double worstRel = 0, worstAbs = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            double r = GeluExact(xs[i]), err = Math.Abs(ys[i] - r);
            if (xs[i] > -13) worstRel = Math.Max(worstRel, err / Math.Max(Math.Abs(r), 1e-300));
            worstAbs = Math.Max(worstAbs, err);
        }
        Assert.True(worstRel < 1e-6, $"worst relative error for x > −13: {worstRel:E2}");
        Assert.True(worstAbs < 2e-6, $"worst absolute error: {worstAbs:E2}");   // at |x| = 15 one ulp is 9.5e-7
    }

    private sealed record Result(double[] Y, double[]? Dx, double[]? Dw, double[]? Db);

    private static Result Run(bool fused, DType dtype, Tensor x0, Tensor w0, Tensor? b0, bool xGrad, bool wGrad, Func<Tensor, Tensor>? view = null)
    {
        using var setting = Torch.Override(EngineSetting.FusedLinearGelu, fused);
        using var scope = Torch.NewDisposeScope();
        var x = x0.To(dtype).Detach().RequiresGrad_(xGrad);
        var w = w0.To(dtype).Detach().RequiresGrad_(wGrad);
        var b = b0?.To(dtype).Detach().RequiresGrad_(true);
        var y = Functional.LinearGelu(view is null ? x : view(x), w, b);
        using var weights = Tensor.Randn(y.Shape, new Generator(9)).To(dtype);
        (y * weights).Sum().Backward();
        double[]? G(Tensor? t) => t?.Grad is { } g ? g.To(DType.Float64).ToArray<double>() : null;
        return new Result(y.To(DType.Float64).ToArray<double>(), G(x), G(w), G(b));
    }

    public static TheoryData<string> Cases => new() { "2d_bias", "3d_bias", "no_bias", "row_tail", "x_only_grad", "w_only_grad", "strided_x", "vit_fc1" };

    private static (Tensor X, Tensor W, Tensor? B, bool XGrad, bool WGrad, Func<Tensor, Tensor>? View) Case(string name, Generator g) => name switch
    {
        "2d_bias" => (Tensor.Randn([7, 5], g), Tensor.Randn([16, 5], g), Tensor.Randn([16], g), true, true, null),
        "3d_bias" => (Tensor.Randn([2, 4, 5], g), Tensor.Randn([24, 5], g), Tensor.Randn([24], g), true, true, null),
        "no_bias" => (Tensor.Randn([9, 8], g), Tensor.Randn([8, 8], g), null, true, true, null),
        "row_tail" => (Tensor.Randn([131, 6], g), Tensor.Randn([13, 6], g), Tensor.Randn([13], g), true, true, null),
        "x_only_grad" => (Tensor.Randn([5, 3], g), Tensor.Randn([10, 3], g), Tensor.Randn([10], g), true, false, null),
        "w_only_grad" => (Tensor.Randn([5, 3], g), Tensor.Randn([10, 3], g), Tensor.Randn([10], g), false, true, null),
        "strided_x" => (Tensor.Randn([4, 6], g), Tensor.Randn([9, 4], g), Tensor.Randn([9], g), true, true, t => t.Transpose(0, 1)),
        _ => (Tensor.Randn([16, 64, 192], g) * 0.1, Tensor.Randn([768, 192], g), Tensor.Randn([768], g) * 0.1, true, true, null),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_matches_libtorch_linear_and_gelu(string name)
    {
        Assert.True(Torch.FusedLinearGeluAvailable, "this test expects a CPU with AVX2 and FMA");
        using var scope = Torch.NewDisposeScope();
        var (x, w, b, xGrad, wGrad, view) = Case(name, new Generator(4));
        var fused = Run(true, DType.Float32, x, w, b, xGrad, wGrad, view);
        var composed = Run(false, DType.Float32, x, w, b, xGrad, wGrad, view);
        var exact = Run(false, DType.Float64, x, w, b, xGrad, wGrad, view);
        // vit_fc1: pre-activations ~N(0, 1.9²), bias-gradient sums over 1024 rows: the float32 rounding of the products
        // and sums, not the activation, sets the scale of the differences.
        double tol = name == "vit_fc1" ? 1e-4 : 2e-5;
        Approx.Equal(composed.Y, fused.Y, tol);
        foreach (var (c, f, e) in new[] { (composed.Dx, fused.Dx, exact.Dx), (composed.Dw, fused.Dw, exact.Dw), (composed.Db, fused.Db, exact.Db) })
        {
            Assert.Equal(c is null, f is null);
            if (f is null) continue;
            Approx.Equal(c!, f, tol * 4);
            Approx.Equal(e!, f, tol * 4);
        }
        Approx.Equal(exact.Y, fused.Y, tol);
    }

    [Fact]
    public void Without_gradients_it_records_nothing_and_gives_the_same_values()
    {
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(2);
        var x = Tensor.Randn([33, 10], g);
        var w = Tensor.Randn([20, 10], g).RequiresGrad_(true);
        var b = Tensor.Randn([20], g);
        var withGrad = Functional.LinearGelu(x, w, b);
        Assert.True(withGrad.RequiresGrad);
        Tensor noGrad;
        using (Torch.NoGrad()) noGrad = Functional.LinearGelu(x, w, b);
        Assert.False(noGrad.RequiresGrad);
        Approx.Equal(withGrad.To(DType.Float64).ToArray<double>(), noGrad, 0);
    }

    [Fact]
    public void Switched_off_it_is_exactly_linear_then_gelu()
    {
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(3);
        var x = Tensor.Randn([12, 7], g);
        var w = Tensor.Randn([9, 7], g);
        var b = Tensor.Randn([9], g);
        using var off = Torch.Override(EngineSetting.FusedLinearGelu, false);
        Approx.Equal(Functional.Linear(x, w, b).Gelu().To(DType.Float64).ToArray<double>(), Functional.LinearGelu(x, w, b), 0);
    }

    [Fact]
    public void Shape_errors_name_the_op_and_come_from_libtorch()
    {
        using var scope = Torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => Functional.LinearGelu(Tensor.Zeros([4, 5]), Tensor.Zeros([3, 6]), null));
        Assert.Contains("shapes cannot be multiplied", e.Message);
        Assert.Contains(nameof(Functional.LinearGelu), e.Message);
    }
}
