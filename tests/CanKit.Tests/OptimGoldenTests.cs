using System.Text.Json;
using CanKit.Nn;
using CanKit.Optim;
using Xunit;

namespace CanKit.Tests;

/// <summary>Optimiser steps against PyTorch (tests/golden/make_optim_golden.py → optim.json).</summary>
public class OptimGoldenTests
{
    private static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "optim.json"))).RootElement;

    private static float[] F(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
    private static long[] Shape(string name) => Golden.GetProperty("shapes").GetProperty(name).EnumerateArray().Select(v => v.GetInt64()).ToArray();

    private sealed class Fixture : IDisposable
    {
        public readonly Tensor X = Tensor.From(F(Golden.GetProperty("x")), Shape("x"));
        public readonly Tensor Y = Tensor.From(F(Golden.GetProperty("y")), Shape("y"));
        public readonly Tensor W = Tensor.From(F(Golden.GetProperty("w0")), Shape("w")).RequiresGrad_();
        public readonly Tensor B = Tensor.From(F(Golden.GetProperty("b0")), Shape("b")).RequiresGrad_();

        public float Backward()
        {
            using var scope = Torch.NewDisposeScope();
            var loss = Functional.MseLoss(X.MatMul(W) + B, Y) + (W * W).Sum() * 0.1;
            loss.Backward();
            return loss.Item<float>();
        }

        public void Dispose()
        {
            foreach (var t in new[] { X, Y, W, B }) t.Dispose();
        }
    }

    private static void AssertClose(float[] expected, float[] actual, double rtol = 1e-5, double atol = 1e-7)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= atol + rtol * Math.Abs(expected[i]),
                $"element {i}: expected {expected[i]:R}, got {actual[i]:R}");
    }

    private static void CheckTrace(Fixture f, Optimizer opt, JsonElement trace, bool clip = false, double clipNorm = 0)
    {
        foreach (var step in trace.EnumerateArray())
        {
            opt.ZeroGrad();
            float loss = f.Backward();
            Assert.Equal(step.GetProperty("loss").GetDouble(), loss, 5);
            if (clip)
            {
                double norm = GradClip.ClipGradNorm([f.W, f.B], clipNorm);
                Assert.Equal(step.GetProperty("grad_norm").GetDouble(), norm, 1e-5);
            }
            opt.Step();
            AssertClose(F(step.GetProperty("w")), f.W.ToArray<float>());
            AssertClose(F(step.GetProperty("b")), f.B.ToArray<float>());
        }
    }

    [Fact]
    public void AdamWWithTwoGroupsAndClippingMatchesPyTorch()
    {
        var g = Golden.GetProperty("adamw");
        using var f = new Fixture();
        var betas = g.GetProperty("betas");
        using var opt = new AdamW(
            [new ParamGroup([f.W], g.GetProperty("weight_decay_w").GetDouble()), new ParamGroup([f.B], g.GetProperty("weight_decay_b").GetDouble())],
            lr: g.GetProperty("lr").GetDouble(), beta1: betas[0].GetDouble(), beta2: betas[1].GetDouble(), eps: g.GetProperty("eps").GetDouble());
        CheckTrace(f, opt, g.GetProperty("trace"), clip: true, clipNorm: g.GetProperty("clip").GetDouble());
        Assert.Equal(3, opt.StepCount);
    }

    [Fact]
    public void AdamW_single_pass_loop_matches_the_libtorch_multi_tensor_ops()
    {
        // Contiguous float32 parameters take the single-pass loop (8 lanes at a time on AVX2, then a scalar tail:
        // 37×29 and 7 elements); the same values as transposed, non-contiguous parameters, and a float64 copy, take
        // libtorch's multi-tensor (_foreach_) ops, all in one call. A parameter without a gradient is left alone.
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(5);
        var start = Tensor.Randn([37, 29], g);
        var target = Tensor.Randn([37, 29], g);
        var start2 = Tensor.Randn([7], g);
        var fused = start.Clone().RequiresGrad_();
        var fused2 = start2.Clone().RequiresGrad_();
        var strided = start.T().Contiguous().T().Detach().RequiresGrad_();
        var strided2 = start2.Clone().RequiresGrad_().To(DType.Float64).Detach().RequiresGrad_();
        var idle = start2.Clone().To(DType.Float64).Detach().RequiresGrad_();
        Assert.False(strided.IsContiguous);
        using var optFused = new AdamW([new ParamGroup([fused, fused2], 0.05)], lr: 3e-2);
        using var optForeach = new AdamW([new ParamGroup([strided, idle, strided2], 0.05)], lr: 3e-2);
        for (int step = 0; step < 5; step++)
        {
            optFused.ZeroGrad();
            using (Torch.NewDisposeScope()) (((fused - target) * (fused - target) * (fused + 2)).Sum() + (fused2 * fused2 * fused2).Sum()).Backward();
            optFused.Step();
            optForeach.ZeroGrad();
            using (Torch.NewDisposeScope()) (((strided - target) * (strided - target) * (strided + 2)).Sum() + (strided2 * strided2 * strided2).Sum()).Backward();
            optForeach.Step();
            // Both sides may fuse a multiply and an add (libtorch's vectorised add with alpha does): the last bit may differ.
            AssertClose(strided.Contiguous().ToArray<float>(), fused.ToArray<float>(), rtol: 1e-6, atol: 1e-7);
            AssertClose(strided2.To(DType.Float32).ToArray<float>(), fused2.ToArray<float>(), rtol: 1e-6, atol: 1e-7);
        }
        Assert.NotEqual(start.ToArray<float>(), fused.ToArray<float>());
        Assert.Null(idle.Grad);
        Assert.Equal(start2.ToArray<float>(), idle.To(DType.Float32).ToArray<float>());
    }

    [Fact]
    public void SgdNesterovMatchesPyTorch()
    {
        var g = Golden.GetProperty("sgd_nesterov");
        using var f = new Fixture();
        using var opt = new Sgd([f.W, f.B], lr: g.GetProperty("lr").GetDouble(), momentum: g.GetProperty("momentum").GetDouble(), nesterov: true);
        CheckTrace(f, opt, g.GetProperty("trace"));
    }

    [Fact]
    public void SgdWithDampeningAndWeightDecayMatchesPyTorch()
    {
        var g = Golden.GetProperty("sgd_dampening");
        using var f = new Fixture();
        using var opt = new Sgd([f.W, f.B], lr: g.GetProperty("lr").GetDouble(), momentum: g.GetProperty("momentum").GetDouble(),
            dampening: g.GetProperty("dampening").GetDouble(), weightDecay: g.GetProperty("weight_decay").GetDouble());
        CheckTrace(f, opt, g.GetProperty("trace"));
    }

    [Fact]
    public void WarmupCosineFollowsItsClosedForm()
    {
        var s = new WarmupCosineSchedule(baseLr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-5);
        Assert.Equal(0, s.At(0));
        Assert.Equal(5e-4, s.At(5), 15);
        Assert.Equal(1e-3, s.At(10), 15);
        Assert.Equal(1e-5 + (1e-3 - 1e-5) * 0.5, s.At(60), 15); // half-way through the cosine
        Assert.Equal(1e-5, s.At(110), 15);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(1e-3, 20, 10));
    }

    [Fact]
    public void DecayGroupsSkipBiasesAndNorms()
    {
        using var net = new Sequential(new Linear(4, 8), new LayerNorm(8), new Linear(8, 2));
        var groups = AdamW.DecayGroups(net, 0.05);
        Assert.Equal(2, groups.Count);
        Assert.Equal(0.05, groups[0].WeightDecay);
        Assert.Equal(2, groups[0].Params.Count);          // the two weight matrices
        Assert.Equal(4, groups[1].Params.Count);          // two biases + norm weight and bias
        Assert.All(groups[1].Params, p => Assert.Equal(1, p.Dim));
    }
}
