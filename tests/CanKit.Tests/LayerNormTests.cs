using CanKit.Nn;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// CanKit's float32 layer norm and the residual add fused in front of it, against libtorch's layer_norm (and add) and
/// against float64: outputs and every gradient, row tails, strided input, each output used alone, and the cases that
/// must fall back to libtorch. Switches process-wide settings, so it runs with the other such tests.
/// </summary>
[Collection("engine-settings")]
public class LayerNormTests
{
    private sealed record Result(double[] Sum, double[] Y, double[]? Dx, double[]? Dr, double[] Dw, double[] Db);

    /// <summary>s = x + r (r optional), y = layer_norm(s); loss = Σ y·u + Σ s·v (either term optional).</summary>
    private static Result Run(bool fused, DType dtype, Tensor x0, Tensor? r0, int d, bool useY = true, bool useSum = true,
                              Func<Tensor, Tensor>? view = null)
    {
        using var setting = Torch.Override(EngineSetting.FusedLayerNorm, fused);
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(11);
        var x = x0.To(dtype).Detach().RequiresGrad_();
        var r = r0?.To(dtype).Detach().RequiresGrad_();
        var w = (Tensor.Randn([d], g) * 0.5 + 1).To(dtype).RequiresGrad_();
        var b = (Tensor.Randn([d], g) * 0.1).To(dtype).RequiresGrad_();
        var xin = view is null ? x : view(x);
        Tensor s, y;
        if (r is null) (s, y) = (xin, Functional.LayerNorm(xin, [d], w, b));
        else (s, y) = Functional.AddLayerNorm(xin, r, [d], w, b);
        var u = Tensor.Randn(y.Shape, g).To(dtype);
        var v = Tensor.Randn(s.Shape, g).To(dtype);
        var loss = useY ? (y * u).Sum() : null;
        if (useSum && r is not null) loss = loss is null ? (s * v).Sum() : loss + (s * v).Sum();
        loss!.Backward();
        static double[] A(Tensor t) => t.To(DType.Float64).ToArray<double>();
        return new Result(A(s), A(y), x.Grad is { } dx ? A(dx) : null, r?.Grad is { } dr ? A(dr) : null,
                          w.Grad is { } dw ? A(dw) : new double[d], b.Grad is { } db ? A(db) : new double[d]);
    }

    private static void Same(Result expected, Result actual, double tol)
    {
        Approx.Equal(expected.Sum, actual.Sum, tol);
        Approx.Equal(expected.Y, actual.Y, tol);
        Assert.Equal(expected.Dx is null, actual.Dx is null);
        if (expected.Dx is not null) Approx.Equal(expected.Dx, actual.Dx!, tol);
        Assert.Equal(expected.Dr is null, actual.Dr is null);
        if (expected.Dr is not null) Approx.Equal(expected.Dr, actual.Dr!, tol);
        Approx.Equal(expected.Dw, actual.Dw, tol * 10);   // sums over all rows
        Approx.Equal(expected.Db, actual.Db, tol * 10);
    }

    public static TheoryData<string> Cases => new()
    {
        "ln_vit", "ln_tail", "ln_strided", "add_vit", "add_tail", "add_y_only", "add_sum_only", "add_3d_decoder", "ln_width_1",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_matches_libtorch_and_float64(string name)
    {
        Assert.True(Torch.FusedLinearGeluAvailable, "this test expects a CPU with AVX2 and FMA");
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(7);
        Tensor X(params long[] shape) => Tensor.Randn(shape, g) * 2 + 0.5;   // an offset mean, as residual streams have
        var (x, r, d, useY, useSum, view) = name switch
        {
            "ln_vit" => (X(64, 192), (Tensor?)null, 192, true, true, (Func<Tensor, Tensor>?)null),
            "ln_tail" => (X(3, 5, 13), null, 13, true, true, null),
            "ln_strided" => (X(20, 9), null, 20, true, true, t => t.T()),
            "add_vit" => (X(2, 32, 192), X(2, 32, 192), 192, true, true, null),
            "add_tail" => (X(17, 21), X(17, 21), 21, true, true, null),
            "add_y_only" => (X(9, 24), X(9, 24), 24, true, false, null),
            "add_sum_only" => (X(9, 24), X(9, 24), 24, false, true, null),
            "add_3d_decoder" => (X(4, 64, 128), X(4, 64, 128), 128, true, true, null),
            _ => (X(6, 1), null, 1, true, true, null),
        };
        var fused = Run(true, DType.Float32, x, r, d, useY, useSum, view);
        var libtorch = Run(false, DType.Float32, x, r, d, useY, useSum, view);
        var exact = Run(false, DType.Float64, x, r, d, useY, useSum, view);
        // Width 1: y is β exactly; libtorch's float32 kernel computes x·(rstd·γ) − μ·(rstd·γ) + β with rstd = 1/√ε, so
        // it is off by ~|x|·rstd·γ·2⁻²³ (3e-5 here). Only the float64 reference is meaningful there.
        if (d > 1) Same(libtorch, fused, 2e-5);
        Same(exact, fused, 2e-5);
    }

    [Fact]
    public void Module_overload_and_block_use_the_same_numbers_as_add_then_norm()
    {
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(3);
        var norm = new LayerNorm(40);
        var x = Tensor.Randn([5, 40], g);
        var r = Tensor.Randn([5, 40], g);
        var (s, y) = norm.Forward(x, r);
        Approx.Equal((x + r).To(DType.Float64).ToArray<double>(), s, 0);
        Approx.Equal(norm.Forward(x + r).To(DType.Float64).ToArray<double>(), y, 0);
    }

    [Fact]
    public void Cases_outside_the_kernel_fall_back_to_libtorch_exactly()
    {
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(5);
        // float64, no affine parameters, two normalised dims, a broadcast residual: libtorch's add and layer_norm.
        var x = Tensor.Randn([6, 4, 8], g);
        var w = Tensor.Randn([8], g);
        var b = Tensor.Randn([8], g);
        var x64 = x.To(DType.Float64);
        Approx.Equal(Functional.LayerNorm(x64, [8], w.To(DType.Float64), b.To(DType.Float64)).ToArray<double>(),
                     LibTorch(() => Functional.LayerNorm(x64, [8], w.To(DType.Float64), b.To(DType.Float64))), 0);
        Approx.Equal(Functional.LayerNorm(x, [8]).To(DType.Float64).ToArray<double>(), LibTorch(() => Functional.LayerNorm(x, [8])), 0);
        var w2 = Tensor.Randn([4, 8], g);
        var b2 = Tensor.Randn([4, 8], g);
        Approx.Equal(Functional.LayerNorm(x, [4, 8], w2, b2).To(DType.Float64).ToArray<double>(), LibTorch(() => Functional.LayerNorm(x, [4, 8], w2, b2)), 0);
        var rowResidual = Tensor.Randn([8], g);
        var (s, y) = Functional.AddLayerNorm(x, rowResidual, [8], w, b);
        Approx.Equal((x + rowResidual).To(DType.Float64).ToArray<double>(), s, 0);
        Approx.Equal(LibTorch(() => Functional.LayerNorm(x + rowResidual, [8], w, b)).To(DType.Float64).ToArray<double>(), y, 0);
    }

    private static Tensor LibTorch(Func<Tensor> f)
    {
        using var off = Torch.Override(EngineSetting.FusedLayerNorm, false);
        return f();
    }

    [Fact]
    public void Without_gradients_it_records_nothing()
    {
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(8);
        var norm = new LayerNorm(16);
        var x = Tensor.Randn([4, 16], g).RequiresGrad_();
        Tensor y;
        using (Torch.NoGrad()) y = norm.Forward(x);
        Assert.False(y.RequiresGrad);
        Assert.True(norm.Forward(x).RequiresGrad);
    }

    [Fact]
    public void Shape_errors_name_the_op()
    {
        using var scope = Torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => Functional.AddLayerNorm(Tensor.Zeros([4, 5]), Tensor.Zeros([3, 5]), [5]));
        Assert.Contains(nameof(Functional.AddLayerNorm), e.Message);
        Assert.Contains("size of tensor a (4) must match", e.Message);
    }
}
