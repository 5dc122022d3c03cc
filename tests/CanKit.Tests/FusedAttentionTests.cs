using CanKit.Nn;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// <see cref="Functional.SelfAttention"/>: the fused CPU kernel against an explicit softmax reference and against
/// the composed libtorch path (values and gradients), both thread-splitting regimes, and its errors. The tests that
/// switch <see cref="Torch.FusedAttention"/> (process-wide) run alone.
/// </summary>
[Collection("engine-settings")]
public class FusedAttentionTests
{
    /// <summary>softmax(q·kᵀ/√hd)·v per (image, head), read from the packed [N, L, 3, H, hd] layout by hand.</summary>
    private static double[] Reference(double[] qkv, int n, int l, int heads, int hd)
    {
        int d = heads * hd;
        var o = new double[n * l * d];
        double At(int b, int t, int part, int h, int c) => qkv[((b * l + t) * 3 + part) * d + h * hd + c];
        for (int b = 0; b < n; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < l; i++)
                {
                    var s = new double[l];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < l; j++)
                    {
                        for (int c = 0; c < hd; c++) s[j] += At(b, i, 0, h, c) * At(b, j, 1, h, c);
                        s[j] /= Math.Sqrt(hd);
                        max = Math.Max(max, s[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < l; j++) z += s[j] = Math.Exp(s[j] - max);
                    for (int j = 0; j < l; j++)
                        for (int c = 0; c < hd; c++) o[(b * l + i) * d + h * hd + c] += s[j] / z * At(b, j, 2, h, c);
                }
        return o;
    }

    [Fact]
    public void Fused_path_applies_to_cpu_float32_and_float64_only()
    {
        using var scope = Torch.NewDisposeScope();
        Assert.True(Torch.FusedAttention);
        Assert.True(Torch.FusedAttentionApplies(Tensor.Zeros([1, 2, 6])), "float32 on CPU should take the fused path (is the BLAS of libtorch visible?)");
        Assert.True(Torch.FusedAttentionApplies(Tensor.Zeros([1, 2, 6], DType.Float64)));
        Assert.False(Torch.FusedAttentionApplies(Tensor.Zeros([1, 2, 6], DType.BFloat16)));
        foreach (var dev in Torch.AvailableDevices().Where(d => d.Type != DeviceType.Cpu))
            Assert.False(Torch.FusedAttentionApplies(Tensor.Zeros([1, 2, 6], device: dev)));
    }

    [Theory]
    [InlineData(2, 5, 3, 4)]    // small products: pairs spread over threads
    [InlineData(1, 1, 2, 3)]    // one token: softmax of one score
    [InlineData(1, 70, 1, 64)]  // 70·70·64 multiply-adds per product: pairs issued in turn, BLAS threads each
    [InlineData(3, 33, 3, 64)]  // the reference encoder's shape (float32 through the AVX2 kernel)
    public void Values_match_an_explicit_softmax_reference(int n, int l, int heads, int hd)
    {
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(11);
        var qkv = r.Normal(n, l, 3 * heads * hd);
        double[] expected = Reference(qkv.ToArray<double>(), n, l, heads, hd);
        Approx.Equal(expected, Functional.SelfAttention(qkv, heads), 1e-12);
        Approx.Equal(expected, Functional.SelfAttention(qkv.To(DType.Float32), heads), 2e-6);
    }

    [Fact]
    public void Works_on_a_non_contiguous_input()
    {
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(12);
        var big = r.Normal(2, 18, 4);
        var qkv = big.Transpose(1, 2);   // [2, 4, 18], strided
        Assert.False(qkv.IsContiguous);
        Approx.Equal(Reference(qkv.Contiguous().ToArray<double>(), 2, 4, 2, 3), Functional.SelfAttention(qkv, 2), 1e-12);
    }

    [Theory]
    [InlineData(3, 33, 3, 64)]   // the reference encoder: 33 tokens, head width 64
    [InlineData(2, 64, 4, 32)]   // the reference decoder without a class token
    [InlineData(2, 70, 1, 64)]   // per-product work above the threading threshold
    [InlineData(1, 37, 2, 20)]   // row and column edges of the AVX2 kernel's 6 × 16 tiles (37 = 6·6 + 1 = 2·16 + 5, 20 = 16 + 4)
    [InlineData(1, 29, 2, 12)]   // 29 = 4·6 + 5 rows, 16 + 13 columns (a masked 16-wide edge); 12 = a masked 16-wide edge alone
    [InlineData(2, 65, 4, 32)]   // the reference decoder with its class token (65 = 10·6 + 5 = 4·16 + 1)
    public void Values_and_gradients_match_the_composed_path(int n, int l, int heads, int hd)
    {
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(13);
        using var x64 = r.Normal(n, l, 3 * heads * hd);
        using var weights64 = r.Normal(n, l, heads * hd);
        foreach (var (dtype, tol) in new[] { (DType.Float64, 1e-12), (DType.Float32, 2e-5) })
        {
            var results = new List<(double[] Out, double[] Grad)>();
            // Fused with the AVX2 kernel, fused with BLAS for every product, composed from libtorch ops (last).
            foreach (var (fused, kernel) in new[] { (true, true), (true, false), (false, true) })
            {
                using var fusedScope = Torch.Override(EngineSetting.FusedAttention, fused);
                using var kernelScope = Torch.Override(EngineSetting.AttentionKernel, kernel);
                using var x = x64.To(dtype).Detach().RequiresGrad_();
                using var w = weights64.To(dtype);
                using var o = Functional.SelfAttention(x, heads);
                using var loss = (o * w).Sum();
                loss.Backward();
                using var o64 = o.To(DType.Float64);
                using var g64 = x.Grad!.To(DType.Float64);
                results.Add((o64.ToArray<double>(), g64.ToArray<double>()));
            }
            for (int i = 0; i < 2; i++)
            {
                Approx.Equal(results[2].Out, results[i].Out, tol);
                Approx.Equal(results[2].Grad, results[i].Grad, tol);
            }
        }
    }

    [Fact]
    public void Bad_shapes_raise_a_TorchException_naming_the_op()
    {
        using var scope = Torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => Functional.SelfAttention(Tensor.Zeros([2, 5, 7]), 2));
        Assert.Contains("self_attention", e.Message);
        Assert.Contains("3 × heads", e.Message);
        e = Assert.Throws<TorchException>(() => Functional.SelfAttention(Tensor.Zeros([2, 12]), 2));
        Assert.Contains("[N, L, 3·D]", e.Message);
        e = Assert.Throws<TorchException>(() => Functional.SelfAttention(Tensor.Zeros([2, 5, 12]), 0));
        Assert.Contains("heads must be", e.Message);
    }
}

[CollectionDefinition("engine-settings", DisableParallelization = true)]
public class EngineSettingsCollection;
