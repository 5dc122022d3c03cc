using CanKit.IO;
using CanKit.Methods;
using CanKit.Vision;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// Every method against an independent PyTorch implementation (tests/golden/make_methods_golden.py, PyTorch 1.13):
/// the same weights, inputs, masks, σ and noise give the same loss terms, top-1 and gradients.
///
/// Tolerance. Both sides compute in float32 with different kernels (libtorch 2.10's MKL/oneDNN here, 1.13's OpenBLAS
/// there), so they differ by rounding only. A float32 dot product of K terms carries a relative rounding error of
/// about √K·u (u = 2⁻²⁴, errors of random sign); an output that passes through S such products (forward and
/// backward) accumulates about √S of them; InfoNCE scales logits by 1/τ, which scales their errors alike. Hence
/// rtol = (1/τ)·√(S·K)·u, applied to each element as |a − e| ≤ rtol·(|e| + max|e|): relative to the tensor's
/// scale too, because gradient elements are sums with cancellation whose own size says nothing of their error.
/// K = 128 (the MLP's hidden width, the longest sum). S counts every Linear/conv/attention product on the longest
/// path, forward and backward. The fixture's sums of 8·16·48 squared errors (the loss means) are pairwise sums in
/// both libraries: their log₂-depth error is far below this bound.
/// </summary>
public class MethodGoldenTests(ITestOutputHelper output)
{
    private const double U = 1.0 / (1 << 24);
    private const int K = 128;
    private static readonly VitConfig Enc = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 2, Heads = 2, ClsToken = false };
    private static readonly DecoderConfig Dec = new() { Width = 16, Depth = 1, Heads = 2 };

    /// <summary>Products on the longest path: per block qkv, q·kᵀ, ·v, proj, fc1, fc2 (6); doubled for the backward pass.</summary>
    private static double Rtol(double temperature, int blocks, int others) => 1 / temperature * Math.Sqrt(2.0 * (6 * blocks + others) * K) * U;

    private static SafeTensorsCheckpoint Fixture(string name) => SafeTensors.Load(Path.Combine(AppContext.BaseDirectory, "golden", name + ".safetensors"));

    private static void LoadWeights(nn.Module m, SafeTensorsCheckpoint f) =>
        m.load_state_dict(f.Where(kv => kv.Key.StartsWith("w.")).ToDictionary(kv => kv.Key[2..], kv => kv.Value));

    private void Term(SafeTensorsCheckpoint f, string term, double actual, double rtol)
    {
        double expected = f["out." + term].item<double>();
        output.WriteLine($"{term}: expected {expected:R}, got {actual:R}, |diff|/|e| {Math.Abs(expected - actual) / Math.Abs(expected):E2} (rtol {rtol:E2})");
        Assert.True(Math.Abs(expected - actual) <= rtol * Math.Abs(expected), $"{term}: expected {expected:R}, got {actual:R}");
    }

    /// <summary>top-1 is a share of 2n or n anchors: exact, unless a positive ties with a negative within rounding.</summary>
    private void Top1(SafeTensorsCheckpoint f, double actual)
    {
        double expected = f["out.top1"].item<double>();
        output.WriteLine($"top1: expected {expected}, got {actual}");
        Assert.Equal(expected, actual, 6);
    }

    /// <summary>Elementwise |a − e| ≤ rtol·(|e| + max|e|) (see the class summary).</summary>
    private void Close(string what, Tensor expected, Tensor actual, double rtol)
    {
        double[] e = Approx.Values(expected), a = Approx.Values(actual);
        Assert.Equal(e.Length, a.Length);
        double scale = e.Max(Math.Abs), worst = 0;
        for (int i = 0; i < e.Length; i++)
        {
            double err = Math.Abs(a[i] - e[i]), tol = rtol * (Math.Abs(e[i]) + scale);
            worst = Math.Max(worst, err / tol);
            Assert.True(err <= tol, $"{what}[{i}]: expected {e[i]:R}, got {a[i]:R} (tolerance {tol:E2})");
        }
        output.WriteLine($"{what}: {e.Length} values, worst error / tolerance {worst:E2}");
    }

    private void Grads(nn.Module m, SafeTensorsCheckpoint f, double rtol)
    {
        var ps = m.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        int n = 0;
        foreach (var (k, v) in f.Where(kv => kv.Key.StartsWith("grad.")))
        {
            Assert.True(ps.ContainsKey(k[5..]), $"no parameter named {k[5..]}");
            using var g = ps[k[5..]].grad ?? throw new InvalidOperationException($"{k[5..]} has no gradient");
            Close(k, v, g, rtol);
            n++;
        }
        Assert.True(n >= 3, $"only {n} gradients checked");
    }

    [Theory]
    [InlineData("can", true)]
    [InlineData("can_no_sigma", false)]
    public void CanMatchesPyTorch(string fixture, bool sigmaEmbedding) =>
        CanAgainst(fixture, new CanConfig { Encoder = Enc, Decoder = Dec, ProjectionDim = 16, MaskRatio = 0.5, SigmaEmbedding = sigmaEmbedding }, top1: true);

    /// <summary>
    /// The official-code preset against a line-for-line transcription of the official CAN code (models_mae.py with
    /// --noise_loss, SupConLoss, engine_pretrain.py's loss weights): noisy reconstruction target, no norm-pix, [CLS]
    /// pooled, σ embedding on the encoder output. SupConLoss subtracts each row's maximum before the softmax; the two
    /// agree to rounding, inside the same bound. (The transcription reports no top-1.)
    /// </summary>
    [Fact]
    public void CanOfficialPresetMatchesTheOfficialCode() =>
        CanAgainst("can_official", CanConfig.OfficialCode with { Encoder = Enc with { ClsToken = true }, Decoder = Dec, ProjectionDim = 16 }, top1: false);

    private void CanAgainst(string fixture, CanConfig cfg, bool top1)
    {
        using var f = Fixture(fixture);
        using var can = new Can(cfg);
        LoadWeights(can, f);
        // 2 encoder + 1 decoder block; conv, decoder embed, pred, head ×2, σ-MLP ×2.
        double rtol = Rtol(0.1, 3, 7);
        using var r = can.Forward(f["in.view1"], f["in.view2"], null, new StepRandomness(f["in.mask_noise"], f["in.sigma"], f["in.eps"]));
        Term(f, "total", r.Terms.Total, rtol);
        Term(f, "contrastive", r.Terms.Contrastive, rtol);
        Term(f, "reconstruction", r.Terms.Reconstruction, rtol);
        Term(f, "denoise", r.Terms.Denoise, rtol);
        if (top1) Top1(f, r.Terms.ContrastiveTop1);
        r.Loss.backward();
        Grads(can, f, rtol);
    }

    [Fact]
    public void MaeMatchesPyTorch()
    {
        using var f = Fixture("mae");
        using var mae = new Mae(new MaeConfig { Encoder = Enc with { ClsToken = true }, Decoder = Dec, MaskRatio = 0.75 });
        LoadWeights(mae, f);
        double rtol = Rtol(1, 3, 3);   // no temperature; conv, decoder embed, pred
        using var r = mae.Forward(f["in.images"], null, new StepRandomness(f["in.mask_noise"]));
        Term(f, "total", r.Terms.Total, rtol);
        Term(f, "reconstruction", r.Terms.Reconstruction, rtol);
        r.Loss.backward();
        Grads(mae, f, rtol);
    }

    [Fact]
    public void SimClrMatchesPyTorch()
    {
        using var f = Fixture("simclr");
        using var simclr = new SimClr(new SimClrConfig { Encoder = Enc, ProjectionDim = 16 });
        LoadWeights(simclr, f);
        double rtol = Rtol(0.1, 2, 4);   // conv, head ×2, z·zᵀ
        using var r = simclr.Forward(f["in.view1"], f["in.view2"]);
        Term(f, "total", r.Terms.Total, rtol);
        Top1(f, r.Terms.ContrastiveTop1);
        r.Loss.backward();
        Grads(simclr, f, rtol);
    }

    [Fact]
    public void CmaeMatchesPyTorchIncludingOneEmaStep()
    {
        using var f = Fixture("cmae");
        // The fixture computes the official code's loss (2τ-scaled InfoNCE, 2×2 block masking from block noise [N, L/4],
        // target branch without its final norm): the official preset's switches, stated here so the test reads alone.
        var cfg = CmaeConfig.OfficialCode with
        {
            Encoder = Enc with { ClsToken = true }, PixelDecoder = Dec, FeatureDecoder = new DecoderConfig { Width = 32, Depth = 2, Heads = 2 },
            ProjectionDim = 16, ProjectionHidden = 64, MaskRatio = 0.65, Temperature = 0.07, ContrastiveWeight = 1, Momentum = 0.9,
            ScaleContrastiveByTwoTau = true, MaskBlock = 2, TargetFinalNorm = false,
        };
        using var cmae = new Cmae(cfg);
        LoadWeights(cmae, f);
        // 2 encoder + 2 feature-decoder blocks; conv, decoder embed, projector ×2, predictor ×2, q·kᵀ.
        double rtol = Rtol(0.07, 4, 7);
        using var r = cmae.Forward(f["in.online"], f["in.target"], null, new StepRandomness(f["in.mask_noise"]));
        Term(f, "total", r.Terms.Total, rtol);
        Term(f, "contrastive", r.Terms.Contrastive, rtol);
        Term(f, "reconstruction", r.Terms.Reconstruction, rtol);
        Top1(f, r.Terms.ContrastiveTop1);
        r.Loss.backward();
        Grads(cmae, f, rtol);
        using (var sgd = torch.optim.SGD(cmae.TrainableParameters().Select(p => p.parameter), 0.1))
            sgd.step();
        Assert.Equal(0.9, cmae.UpdateTarget(0, 1));
        var ps = cmae.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        int n = 0;
        foreach (var (k, v) in f.Where(kv => kv.Key.StartsWith("after.")))
        {
            Close(k, v, ps[k[6..]], rtol);
            n++;
        }
        Assert.True(n > 20, $"only {n} target tensors checked");
    }
}
