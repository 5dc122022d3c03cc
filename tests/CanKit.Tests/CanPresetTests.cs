using CanKit.Methods;
using CanKit.Objectives;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>CAN's presets and the switches that separate the official code from the paper preset.</summary>
public class CanPresetTests
{
    private static readonly VitConfig Enc = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 16, Depth = 1, Heads = 2, ClsToken = false };
    private static readonly DecoderConfig Dec = new() { Width = 8, Depth = 1, Heads = 2 };

    [Fact]
    public void OfficialPresetCarriesTheOfficialCodesChoicesAndThePaperPresetIsUnchanged()
    {
        var o = CanConfig.OfficialCode;
        Assert.False(o.NormPixLoss);                                             // main_pretrain.py: norm_pix_loss=False
        Assert.Equal(ReconstructionTarget.Noisy, o.ReconstructionTarget);        // models_mae.py: imgs += noise
        Assert.Equal(SigmaInjection.EncoderOutput, o.SigmaAt);                   // latent += noise_pe before forward_decoder
        Assert.Equal(1, o.SigmaScale);
        Assert.Equal(128, o.SigmaFeatures);                                      // pe_dims=128
        Assert.Equal(SinusoidFrequencies.Diffusion, o.SigmaFrequencies);
        Assert.True(o.PoolIncludesCls && o.Encoder.ClsToken);                    // latent.mean(dim=1) with cls_token
        Assert.Equal((0.75, 0.1, 0.03, 0.679, 0.291),
                     (o.MaskRatio, o.SigmaMax, o.ContrastiveWeight, Math.Round(o.ReconstructionWeight, 12), Math.Round(o.DenoiseWeight, 12)));
        var p = CanConfig.Paper;
        Assert.True(p.NormPixLoss);
        Assert.Equal(ReconstructionTarget.Clean, p.ReconstructionTarget);
        Assert.Equal(SigmaInjection.DecoderTokens, p.SigmaAt);
        Assert.Equal((1000.0, 0, SinusoidFrequencies.Transformer, false, false),
                     (p.SigmaScale, p.SigmaFeatures, p.SigmaFrequencies, p.PoolIncludesCls, p.Encoder.ClsToken));
        Assert.Equal((0.5, 0.05, 0.1, 0.03, 0.67, 0.3), (p.MaskRatio, p.SigmaMax, p.Temperature, p.ContrastiveWeight, p.ReconstructionWeight, p.DenoiseWeight));
    }

    /// <summary>
    /// The reconstruction term is the masked-patch MSE against the clean view or the noisy one the encoder saw: recomputed
    /// from the kept predictions with the same kernels, it matches exactly; the two targets differ.
    /// </summary>
    [Theory]
    [InlineData(ReconstructionTarget.Clean)]
    [InlineData(ReconstructionTarget.Noisy)]
    public void ReconstructionTargetSwitch(ReconstructionTarget target)
    {
        using var g = new Generator(2);
        using var v1 = torch.randn([3, 3, 16, 16], generator: g);
        using var v2 = torch.randn([3, 3, 16, 16], generator: g);
        using var sigma = torch.full([6], 0.5f);
        using var eps = torch.randn([6, 3, 16, 16], generator: g);
        using var maskNoise = torch.rand([6, 16], generator: g);
        using var can = new Can(new CanConfig { Encoder = Enc, Decoder = Dec, ProjectionDim = 8, NormPixLoss = false,
                                                ReconstructionTarget = target }, new Generator(4));
        using var r = can.Forward(v1, v2, null, new StepRandomness(maskNoise, sigma, eps), keepPredictions: true);
        var kept = r.Predictions!;
        using var clean = torch.cat([v1, v2], 0);
        using var onClean = PatchLosses.Reconstruction(kept.Pixels, clean, kept.Mask, 4, normPix: false);
        using var onNoisy = PatchLosses.Reconstruction(kept.Pixels, kept.Input, kept.Mask, 4, normPix: false);
        double expected = (target == ReconstructionTarget.Noisy ? onNoisy : onClean).item<float>();
        Assert.Equal(expected, r.Terms.Reconstruction);
        Assert.NotEqual(onClean.item<float>(), onNoisy.item<float>());
    }

    /// <summary>
    /// The official code's σ sinusoid (denoising-diffusion-pytorch's): feature k is sin(σ·10000^(−k/(F/2 − 1))), F/2 + k its
    /// cosine, so the last frequency is exactly 10⁻⁴; the Transformer spacing divides by F/2. One float32 exp and product
    /// per feature: 1e-6 covers their rounding on arguments ≤ 1.
    /// </summary>
    [Theory]
    [InlineData(SinusoidFrequencies.Diffusion)]
    [InlineData(SinusoidFrequencies.Transformer)]
    public void SigmaSinusoidFrequencies(SinusoidFrequencies spacing)
    {
        using var emb = new SigmaEmbedding(16, scale: 1, features: 8, frequencies: spacing);
        using var sigma = torch.tensor(new float[] { 0.0f, 0.1f, 1.0f });
        using var f = emb.Sinusoidal(sigma);
        Assert.Equal(new long[] { 3, 8 }, f.shape);
        double[] v = Approx.Values(f);
        double m = spacing == SinusoidFrequencies.Diffusion ? 3 : 4;
        double[] s = [0, 0.1, 1];
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++)
            {
                double w = Math.Pow(10000, -k / m);
                Assert.Equal(Math.Sin(s[i] * w), v[i * 8 + k], 1e-6);
                Assert.Equal(Math.Cos(s[i] * w), v[i * 8 + 4 + k], 1e-6);
            }
        using var wide = new SigmaEmbedding(16, features: 8);
        Assert.Equal(new long[] { 16, 8 }, wide.Mlp.named_parameters().First(p => p.name == "0.weight").parameter.shape);
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new SigmaEmbedding(16, features: 7)).ParamName);
    }

    /// <summary>
    /// σ ~ U[0, σmax] per sample and e ~ N(0, 1) per element (CAN §3.3; official: <c>std * torch.rand(N)</c> and
    /// <c>torch.randn</c>). Kolmogorov–Smirnov of 20 000 σ against the uniform CDF: the 0.1% critical distance is
    /// 1.95/√n ≈ 0.0138. e = noise/σ over 20 000 × 16 values: mean within 4 standard errors (4/√320000 ≈ 0.0071) of 0,
    /// variance within 4 of its standard errors (√(2/320000) ≈ 0.0025, so 0.01) of 1.
    /// </summary>
    [Fact]
    public void SigmaIsUniformAndTheNoiseStandardNormal()
    {
        const int n = 20000;
        using var g = new Generator(77);
        using var noised = GaussianNoise.Apply(torch.zeros([n, 1, 4, 4]), 0.1, g);
        double[] sig = Approx.Values(noised.Sigma).OrderBy(x => x).ToArray();
        double d = 0;
        for (int i = 0; i < n; i++) d = Math.Max(d, Math.Max(Math.Abs((i + 1.0) / n - sig[i] / 0.1), Math.Abs(sig[i] / 0.1 - (double)i / n)));
        Assert.True(d < 1.95 / Math.Sqrt(n), $"KS distance {d:F4} to U[0, 0.1]");
        Assert.InRange(sig[0], 0, 0.1);
        Assert.InRange(sig[^1], 0, 0.1);
        using var e = noised.Noise / noised.Sigma.view(n, 1, 1, 1);
        double[] ev = Approx.Values(e);
        double mean = ev.Average(), variance = ev.Select(x => (x - mean) * (x - mean)).Average();
        Assert.InRange(mean, -0.0071, 0.0071);
        Assert.InRange(variance, 0.99, 1.01);
    }
}
