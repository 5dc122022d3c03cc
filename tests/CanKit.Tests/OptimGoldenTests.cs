using System.Text.Json;
using CanKit.Optim;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// TorchSharp's optimisers and gradient clipping against PyTorch 1.13 (tests/golden/make_optim_golden.py → optim.json),
/// and CanKit's schedule and parameter grouping.
/// </summary>
public class OptimGoldenTests
{
    private static readonly JsonElement Golden =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "optim.json"))).RootElement;

    private static float[] F(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
    private static long[] Shape(string name) => Golden.GetProperty("shapes").GetProperty(name).EnumerateArray().Select(v => v.GetInt64()).ToArray();

    private const double Eps = 1.1920929e-7;   // float32 machine epsilon
    // The longest float32 sum behind a gradient element: the mean over the 8×4 outputs of the MSE. Summed in another
    // order (another BLAS, other vector widths) it differs by at most ~n·eps relative when, as here, terms do not cancel.
    private const double GradRelErr = 32 * Eps;

    private sealed class Fixture : IDisposable
    {
        public readonly Tensor X = tensor(F(Golden.GetProperty("x")), Shape("x"));
        public readonly Tensor Y = tensor(F(Golden.GetProperty("y")), Shape("y"));
        public readonly Parameter W = new(tensor(F(Golden.GetProperty("w0")), Shape("w")));
        public readonly Parameter B = new(tensor(F(Golden.GetProperty("b0")), Shape("b")));

        public float Backward()
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.mse_loss(X.matmul(W) + B, Y) + (W * W).sum() * 0.1;   // [] 
            loss.backward();
            return loss.item<float>();
        }

        public void Dispose()
        {
            foreach (var t in new Tensor[] { X, Y, W, B }) t.Dispose();
        }
    }

    // Each parameter element after step s may differ from PyTorch's by the gradient's relative error times the distance it
    // has travelled (an update is a smooth function of the gradients whose error is relative: SGD's is linear in them,
    // Adam's m/√v is a ratio, exactly ±1 at step 1), plus a few roundings of the parameter itself per step
    // (decay multiply, add; at most 4 ulps).
    private static void CheckTrace(Fixture f, optim.Optimizer opt, JsonElement trace, double? clipNorm = null)
    {
        float[][] previous = [F(Golden.GetProperty("w0")), F(Golden.GetProperty("b0"))];
        var travelled = new[] { new double[previous[0].Length], new double[previous[1].Length] };
        int s = 0;
        foreach (var step in trace.EnumerateArray())
        {
            s++;
            opt.zero_grad();
            float loss = f.Backward();
            double expectedLoss = step.GetProperty("loss").GetDouble();
            Assert.True(Math.Abs(loss - expectedLoss) <= 40 * Eps * Math.Abs(expectedLoss), $"step {s}: loss {loss:R}, PyTorch {expectedLoss:R}");
            if (clipNorm is { } clip)
            {
                double norm = nn.utils.clip_grad_norm_([f.W, f.B], clip);
                double expectedNorm = step.GetProperty("grad_norm").GetDouble();
                Assert.True(Math.Abs(norm - expectedNorm) <= (GradRelErr + 24 * Eps) * expectedNorm, $"step {s}: grad norm {norm:R}, PyTorch {expectedNorm:R}");
            }
            opt.step();
            float[][] expected = [F(step.GetProperty("w")), F(step.GetProperty("b"))];
            float[][] actual = [f.W.data<float>().ToArray(), f.B.data<float>().ToArray()];
            for (int t = 0; t < 2; t++)
                for (int i = 0; i < expected[t].Length; i++)
                {
                    travelled[t][i] += Math.Abs(expected[t][i] - previous[t][i]);
                    double tol = GradRelErr * travelled[t][i] + 4 * s * Eps * Math.Abs(expected[t][i]);
                    Assert.True(Math.Abs(expected[t][i] - actual[t][i]) <= tol,
                        $"step {s}, {(t == 0 ? "w" : "b")}[{i}]: PyTorch {expected[t][i]:R}, TorchSharp {actual[t][i]:R} (tolerance {tol:E2})");
                }
            previous = expected;
        }
    }

    [Fact]
    public void AdamWWithTwoGroupsAndClippingMatchesPyTorch()
    {
        var g = Golden.GetProperty("adamw");
        using var f = new Fixture();
        var betas = g.GetProperty("betas");
        double lr = g.GetProperty("lr").GetDouble(), b1 = betas[0].GetDouble(), b2 = betas[1].GetDouble(), eps = g.GetProperty("eps").GetDouble();
        using var opt = new AdamW(
            [new AdamW.ParamGroup([f.W], lr, b1, b2, eps, g.GetProperty("weight_decay_w").GetDouble()),
             new AdamW.ParamGroup([f.B], lr, b1, b2, eps, g.GetProperty("weight_decay_b").GetDouble())], lr: lr);
        CheckTrace(f, opt, g.GetProperty("trace"), clipNorm: g.GetProperty("clip").GetDouble());
        Assert.All(opt.state_dict().State, st => Assert.Equal(3, ((AdamW.State)st).step));
    }

    [Fact]
    public void SgdNesterovMatchesPyTorch()
    {
        var g = Golden.GetProperty("sgd_nesterov");
        using var f = new Fixture();
        using var opt = new SGD([f.W, f.B], lr: g.GetProperty("lr").GetDouble(), momentum: g.GetProperty("momentum").GetDouble(), nesterov: true);
        CheckTrace(f, opt, g.GetProperty("trace"));
    }

    [Fact]
    public void SgdWithDampeningAndWeightDecayMatchesPyTorch()
    {
        var g = Golden.GetProperty("sgd_dampening");
        using var f = new Fixture();
        using var opt = new SGD([f.W, f.B], lr: g.GetProperty("lr").GetDouble(), momentum: g.GetProperty("momentum").GetDouble(),
            dampening: g.GetProperty("dampening").GetDouble(), weight_decay: g.GetProperty("weight_decay").GetDouble());
        CheckTrace(f, opt, g.GetProperty("trace"));
    }

    [Fact]
    public void WarmupCosineFollowsItsClosedFormAndSetsEveryGroup()
    {
        var s = new WarmupCosineSchedule(baseLr: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-5);
        Assert.Equal(0, s.At(0));
        Assert.Equal(5e-4, s.At(5), 15);
        Assert.Equal(1e-3, s.At(10), 15);
        Assert.Equal(1e-5 + (1e-3 - 1e-5) * 0.5, s.At(60), 15); // half-way through the cosine
        Assert.Equal(1e-5, s.At(110), 15);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(1e-3, 20, 10));

        using var net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8));
        using var opt = new AdamW(WeightDecayGroups.Split(net, 0.05), lr: 1.0);
        Assert.Equal(s.At(60), s.Apply(opt, 60));
        Assert.All(opt.ParamGroups, g => Assert.Equal(s.At(60), g.LearningRate));
    }

    [Fact]
    public void DecayGroupsSkipBiasesNormsAndNamedParameters()
    {
        using var net = nn.Sequential(("0", nn.Linear(4, 8)), ("1", nn.LayerNorm(8)), ("2", nn.Linear(8, 2)));
        var groups = WeightDecayGroups.Split(net, 0.05);
        Assert.Equal(2, groups.Count);
        Assert.Equal(0.05, groups[0].Options.weight_decay);
        Assert.Equal(2, groups[0].Parameters.Count());          // the two weight matrices
        Assert.Equal(0.0, groups[1].Options.weight_decay);
        Assert.Equal(4, groups[1].Parameters.Count());          // two biases + norm weight and bias
        Assert.All(groups[1].Parameters, p => Assert.Equal(1, p.dim()));

        var named = WeightDecayGroups.Split(net, 0.05, "2.weight");
        Assert.Single(named[0].Parameters);
        Assert.Equal(new long[] { 8, 4 }, named[0].Parameters.Single().shape);
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightDecayGroups.Split(net, -1));
    }
}
