using CanKit.Nn;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// float32 CPU linear layers on oneDNN (forward, input gradient) + BLAS (weight gradient) against libtorch's own
/// linear: values and all three gradients, for the input shapes and gradient combinations a model produces.
/// Switches the process-wide setting, so it runs with the other such tests.
/// </summary>
[Collection("engine-settings")]
public class DnnlLinearTests
{
    private static (double[] Y, double[]? Dx, double[]? Dw, double[]? Db) Run(bool dnnl, Tensor x0, Tensor w0, Tensor? b0, bool xGrad, bool wGrad,
                                                                              Func<Tensor, Tensor>? view = null)
    {
        using var setting = Torch.Override(EngineSetting.DnnlLinear, dnnl);
        using var scope = Torch.NewDisposeScope();
        var x = x0.Detach().RequiresGrad_(xGrad);
        var w = w0.Detach().RequiresGrad_(wGrad);
        var b = b0?.Detach().RequiresGrad_(true);
        var xin = view is null ? x : view(x);
        var y = Functional.Linear(xin, w, b);
        using var weights = Tensor.Randn(y.Shape, new Generator(9));
        (y * weights).Sum().Backward();
        double[]? G(Tensor? t) => t?.Grad is { } g ? g.To(DType.Float64).ToArray<double>() : null;
        return (y.To(DType.Float64).ToArray<double>(), G(x), G(w), G(b));
    }

    public static TheoryData<string> Cases => new() { "2d_bias", "3d_bias", "no_bias", "x_only_grad", "w_only_grad", "strided_x", "vit_width" };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_libtorch_linear(string name)
    {
        Assert.True(Torch.DnnlLinearAvailable, "the native layer should be built with oneDNN (tools/install-deps.sh installs libdnnl-dev)");
        var g = new Generator(4);
        using var scope = Torch.NewDisposeScope();
        var (x, w, b, xGrad, wGrad, view) = name switch
        {
            "2d_bias" => (Tensor.Randn([7, 5], g), Tensor.Randn([3, 5], g), Tensor.Randn([3], g), true, true, (Func<Tensor, Tensor>?)null),
            "3d_bias" => (Tensor.Randn([2, 4, 5], g), Tensor.Randn([6, 5], g), Tensor.Randn([6], g), true, true, null),
            "no_bias" => (Tensor.Randn([9, 8], g), Tensor.Randn([4, 8], g), (Tensor?)null, true, true, null),
            "x_only_grad" => (Tensor.Randn([5, 3], g), Tensor.Randn([2, 3], g), Tensor.Randn([2], g), true, false, null),
            "w_only_grad" => (Tensor.Randn([5, 3], g), Tensor.Randn([2, 3], g), Tensor.Randn([2], g), false, true, null),
            "strided_x" => (Tensor.Randn([4, 6], g), Tensor.Randn([3, 4], g), Tensor.Randn([3], g), true, true, t => t.Transpose(0, 1)),
            _ => (Tensor.Randn([2, 64, 192], g), Tensor.Randn([576, 192], g), Tensor.Randn([576], g), true, true, null),
        };
        var viaDnnl = Run(true, x, w, b, xGrad, wGrad, view);
        var viaTorch = Run(false, x, w, b, xGrad, wGrad, view);
        double tol = name == "vit_width" ? 2e-4 : 1e-5;   // sums of 192 products of N(0,1) values: |y| ~ 14
        Approx.Equal(viaTorch.Y, viaDnnl.Y, tol);
        Assert.Equal(viaTorch.Dx is null, viaDnnl.Dx is null);
        Assert.Equal(viaTorch.Dw is null, viaDnnl.Dw is null);
        Assert.Equal(viaTorch.Db is null, viaDnnl.Db is null);
        if (viaTorch.Dx is not null) Approx.Equal(viaTorch.Dx, viaDnnl.Dx!, tol);
        if (viaTorch.Dw is not null) Approx.Equal(viaTorch.Dw, viaDnnl.Dw!, tol);
        if (viaTorch.Db is not null) Approx.Equal(viaTorch.Db, viaDnnl.Db!, tol);
    }

    [Fact]
    public void Shape_errors_still_come_from_libtorch()
    {
        using var scope = Torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => Functional.Linear(Tensor.Zeros([4, 5]), Tensor.Zeros([3, 6]), null));
        Assert.Contains("shapes cannot be multiplied", e.Message);
    }
}
