using CanKit.Methods;
using CanKit.Objectives;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>Closed forms and properties of the objectives' building blocks.</summary>
public class ObjectiveTests
{
    [Fact]
    public void EmaIsMuTargetPlusOneMinusMuSourceToRounding()
    {
        var g = new Generator(5);
        using var online = TransformerInit.Linear(3, 2, g);
        using var target = TransformerInit.Linear(3, 2, g);
        double[] t0 = Approx.Values(target.weight!), s0 = Approx.Values(online.weight!);
        const double mu = 0.996;
        Ema.Update(target, online, mu);
        double[] t1 = Approx.Values(target.weight!);
        // float32: two roundings of μ·t and (1 − μ)·s and one of their sum, each ≤ u = 2⁻²⁴ relative.
        for (int i = 0; i < t0.Length; i++)
            Assert.True(Math.Abs(t1[i] - (mu * t0[i] + (1 - mu) * s0[i])) <=
                        3 * Math.Pow(2, -24) * (Math.Abs(mu * t0[i]) + Math.Abs((1 - mu) * s0[i])) + 1e-7 * Math.Abs(t0[i]),
                $"element {i}");
        Assert.Equal(0.996, Ema.CosineMomentum(0.996, 0, 100), 12);
        Assert.Equal(1.0, Ema.CosineMomentum(0.996, 100, 100), 12);
        Assert.Equal(0.998, Ema.CosineMomentum(0.996, 50, 100), 12);
        Assert.Equal("mu", Assert.Throws<ArgumentOutOfRangeException>(() => Ema.Update(target, online, 1.5)).ParamName);
    }

    [Fact]
    public void CmaeTargetGetsNoGradient()
    {
        var g = new Generator(6);
        var enc = new VitConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2 };
        using var cmae = new Cmae(new CmaeConfig { Encoder = enc, PixelDecoder = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 },
                                                   FeatureDecoder = new DecoderConfig { Width = 16, Depth = 2, Heads = 2 },
                                                   ProjectionDim = 8, ProjectionHidden = 16, MaskBlock = 1 }, g);
        // (Per-patch masking: the 2×2 grid is a single 2×2 block, which ratio 0.65 would remove whole.)
        // The target starts as an exact copy of the online encoder and projector.
        Assert.Equal(Approx.Values(cmae.Encoder.Blocks[0].Attn.Qkv.weight!), Approx.Values(cmae.TargetEncoder.Blocks[0].Attn.Qkv.weight!));
        using var x = torch.randn([4, 3, 8, 8], generator: g);
        using var r = cmae.Forward(x, x, g);
        r.Loss.backward();
        foreach (var p in cmae.TargetEncoder.parameters().Concat(cmae.TargetProjector.parameters()))
            Assert.Null(p.grad);
        Assert.NotNull(cmae.Encoder.Blocks[0].Attn.Qkv.weight!.grad);
    }

    [Fact]
    public void SigmaEmbeddingChangesDecoderOutputOnlyWhenEnabled()
    {
        var enc = new VitConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2, ClsToken = false };
        var dec = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 };
        double[] Run(bool sigmaEmbedding, double sigma)
        {
            using var can = new Can(new CanConfig { Encoder = enc, Decoder = dec, SigmaEmbedding = sigmaEmbedding, ProjectionDim = 8 }, new Generator(8));
            using var x = torch.randn([2, 3, 8, 8], generator: new Generator(1));
            using var eps = torch.zeros([4, 3, 8, 8]);            // σ changes only what the decoder is told
            using var s = torch.full([4], sigma);
            using var maskNoise = torch.rand([4, 4], generator: new Generator(2));
            using var r = can.Forward(x, x, null, new StepRandomness(maskNoise, s, eps), keepPredictions: true);
            return Approx.Values(r.Predictions!.Pixels);
        }
        Assert.NotEqual(Run(true, 0.01), Run(true, 0.09));
        Assert.Equal(Run(false, 0.01), Run(false, 0.09));
    }

    [Fact]
    public void CanRunsInFloat64AndAgreesWithFloat32()
    {
        var enc = new VitConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2, ClsToken = false };
        var dec = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 };
        double Loss(ScalarType dtype)
        {
            using var can = new Can(new CanConfig { Encoder = enc, Decoder = dec, ProjectionDim = 8 }, new Generator(8));
            can.to(dtype);
            using var x = torch.randn([2, 3, 8, 8], generator: new Generator(1)).to(dtype);
            using var eps = torch.randn([4, 3, 8, 8], generator: new Generator(3)).to(dtype);
            using var s = torch.full([4], 0.05, dtype);
            using var maskNoise = torch.rand([4, 4], generator: new Generator(2));
            using var r = can.Forward(x, x, null, new StepRandomness(maskNoise, s, eps));
            r.Loss.backward();
            Assert.Equal(dtype, r.Loss.dtype);
            Assert.All(can.parameters(), p => Assert.Equal(dtype, p.dtype));
            return r.Terms.Total;
        }
        double l32 = Loss(ScalarType.Float32), l64 = Loss(ScalarType.Float64);
        Assert.True(double.IsFinite(l64));
        // A handful of float32 stages of sums ≤ 64 long: far below 1e-5 relative (see MethodGoldenTests).
        Assert.True(Math.Abs(l32 - l64) < 1e-5 * Math.Abs(l64), $"float32 loss {l32} vs float64 {l64}");
    }

    [Fact]
    public void ConfigsRejectBadValuesNamingTheField()
    {
        Assert.Equal("MaskRatio", Assert.Throws<ArgumentOutOfRangeException>(() => new CanConfig { MaskRatio = 1.0 }).ParamName);
        Assert.Equal("MaskRatio", Assert.Throws<ArgumentOutOfRangeException>(() => new MaeConfig { MaskRatio = -0.1 }).ParamName);
        Assert.Equal("SigmaMax", Assert.Throws<ArgumentOutOfRangeException>(() => new CanConfig { SigmaMax = -0.01 }).ParamName);
        Assert.Equal("Temperature", Assert.Throws<ArgumentOutOfRangeException>(() => new CanConfig { Temperature = 0 }).ParamName);
        Assert.Equal("Temperature", Assert.Throws<ArgumentOutOfRangeException>(() => new CmaeConfig { Temperature = -1 }).ParamName);
        Assert.Equal("Momentum", Assert.Throws<ArgumentOutOfRangeException>(() => new CmaeConfig { Momentum = 1.5 }).ParamName);
        Assert.Equal("ImageSize", Assert.Throws<ArgumentOutOfRangeException>(() => new VitConfig { ImageSize = 30, PatchSize = 4 }.Validate()).ParamName);
        Assert.Equal("Heads", Assert.Throws<ArgumentOutOfRangeException>(() => new VitConfig { Width = 100, Heads = 3 }.Validate()).ParamName);
        Assert.Equal("ImageSize", Assert.Throws<ArgumentOutOfRangeException>(() =>
            new Can(new CanConfig { Encoder = new VitConfig { ImageSize = 30, PatchSize = 4 } })).ParamName);
    }

    [Fact]
    public void PatchifyFollowsMaeLayoutAndRoundTrips()
    {
        using var img = torch.arange(0, 2 * 3 * 4 * 4, 1, ScalarType.Float32).reshape(2, 3, 4, 4);
        using var p = Patches.Patchify(img, 2);
        Assert.Equal(new long[] { 2, 4, 12 }, p.shape);
        // Patch 0 of image 0: pixels (0,0),(0,1),(1,0),(1,1), channels last → c·16 + h·4 + w.
        Assert.Equal(new double[] { 0, 16, 32, 1, 17, 33, 4, 20, 36, 5, 21, 37 }, Approx.Values(p[0, 0]));
        using var back = Patches.Unpatchify(p, 2, 3);
        Assert.Equal(Approx.Values(img), Approx.Values(back));
        Assert.Equal("patchSize", Assert.Throws<ArgumentException>(() => Patches.Patchify(img, 3)).ParamName);
    }

    [Theory]
    [InlineData(4, 3, false)]    // the reference layout: RGB, patch 4
    [InlineData(2, 1, true)]     // one channel, a class token
    public void PatchEmbeddingIsAProductOfPatchesAndTheFlattenedKernel(int patch, int channels, bool cls)
    {
        using var scope = torch.NewDisposeScope();
        var g = new Generator(3);
        var cfg = new VitConfig { ImageSize = 8, PatchSize = patch, InChannels = channels, Width = 16, Depth = 1, Heads = 2, ClsToken = cls };
        using var vit = new VisionTransformer(cfg, g);
        vit.to(ScalarType.Float64);
        var images = torch.randn([3, channels, 8, 8], ScalarType.Float64, generator: g);
        // Embed(x) − Embed(0) = the projection without bias and position embedding: each patch, channels first
        // ([C, p, p] as the kernel is laid out), dotted with every kernel [D, C·p·p].
        var tokens = vit.Embed(images) - vit.Embed(torch.zeros_like(images));
        long h = 8 / patch;
        var cFirst = images.reshape(3, channels, h, patch, h, patch).permute(0, 2, 4, 1, 3, 5).reshape(3, h * h, channels * patch * patch);
        var expected = cFirst.matmul(vit.PatchWeight.detach().reshape(16, -1).t());   // [N, L, D]
        Approx.Equal(Approx.Values(expected), tokens, 1e-12);
        var wrong = torch.randn([1, channels + 1, 8, 8], ScalarType.Float64, generator: g);
        var e = Assert.Throws<ArgumentException>(() => vit.Embed(wrong));
        Assert.Equal("images", e.ParamName);
        Assert.Contains("channels", e.Message);
    }

    [Fact]
    public void SinCosPositionEmbeddingMatchesItsFormula()
    {
        using var pe = PositionEmbedding.SinCos2D(8, 3, clsToken: true);
        Assert.Equal(new long[] { 10, 8 }, pe.shape);
        float[] v = pe.data<float>().ToArray();
        Assert.All(v.Take(8), e => Assert.Equal(0f, e));                         // [CLS] row
        int row = 1 + 2 * 3 + 1;                                                 // h = 2, w = 1
        double w1 = 1.0 / Math.Pow(10000, 0.5);
        Assert.Equal((float)Math.Sin(1.0), v[row * 8 + 0]);
        Assert.Equal((float)Math.Sin(1.0 * w1), v[row * 8 + 1]);
        Assert.Equal((float)Math.Cos(1.0), v[row * 8 + 2]);
        Assert.Equal((float)Math.Sin(2.0), v[row * 8 + 4]);
        Assert.Equal((float)Math.Cos(2.0 * w1), v[row * 8 + 7]);
    }

    [Fact]
    public void NoiseHasTheRequestedSigmaAndReconstructionIgnoresVisiblePatches()
    {
        var g = new Generator(31);
        using var img = torch.zeros([3, 1, 4, 4]);
        using var sigma = torch.tensor(new float[] { 0, 0.5f, 2 });
        using var eps = torch.randn([3, 1, 4, 4], generator: g);
        using var noised = GaussianNoise.Apply(img, 0.1, g, sigma: sigma, eps: eps);
        // σ·e exactly (one float32 product per element), and the noisy image is img + σ·e.
        double[] e = Approx.Values(eps), s = [0, 0.5, 2];
        Approx.Equal(e.Select((v, i) => (double)(float)(v * s[i / 16])).ToArray(), noised.Noise, 0);
        Approx.Equal(Approx.Values(noised.Noise), noised.Noisy, 0);
        using var sampled = GaussianNoise.Apply(torch.zeros([1000, 1, 1, 1]), 0.1, g);
        double[] sig = Approx.Values(sampled.Sigma);
        Assert.All(sig, v => Assert.InRange(v, 0, 0.1));
        // Mean of 1000 draws of U[0, 0.1]: standard error 0.1/√12/√1000 ≈ 0.0009; 4 standard errors.
        Assert.InRange(sig.Average(), 0.05 - 0.0037, 0.05 + 0.0037);

        // Predictions that are wrong only on visible patches give zero reconstruction loss.
        using var target = torch.randn([1, 1, 4, 4], generator: g);
        using var patches = Patches.Patchify(target, 2);                         // [1, 4, 4]
        using var mask = torch.tensor(new float[] { 1, 0, 1, 0 }, [1, 4]);
        using var wrong = patches + (1.0 - mask).unsqueeze(-1) * 5.0;
        using var loss = PatchLosses.Reconstruction(wrong, target, mask, 2, normPix: false);
        Assert.Equal(0f, loss.item<float>());
    }

    [Fact]
    public void MaskedMseAndNormPixMatchTheirFormulas()
    {
        // One image, two patches of 4 values; patch 1 removed. Loss = mean over patch 1 of (pred − standardised target)².
        using var images = torch.tensor(new double[] { 1, 2, 5, 6, 3, 4, 7, 9 }, [1, 1, 2, 4]);   // patch 2×2: [1,2,3,4] and [5,6,7,9]
        using var pred = torch.zeros([1, 2, 4], ScalarType.Float64);
        using var mask = torch.tensor(new double[] { 0, 1 }, [1, 2]);
        double[] p1 = [5, 6, 7, 9];
        double mean = p1.Average(), var = p1.Sum(v => (v - mean) * (v - mean)) / 3;
        double expected = p1.Average(v => Math.Pow((v - mean) / Math.Sqrt(var + 1e-6), 2));
        using var loss = PatchLosses.Reconstruction(pred, images, mask, 2, normPix: true);
        Assert.Equal(expected, loss.item<double>(), 12);
        using var plain = PatchLosses.Reconstruction(pred, images, mask, 2, normPix: false);
        Assert.Equal(p1.Average(v => v * v), plain.item<double>(), 12);
        using var noMask = torch.zeros([1, 2], ScalarType.Float64);             // nothing removed: Σw clamps to 1, loss 0
        using var none = PatchLosses.Reconstruction(pred, images, noMask, 2, normPix: false);
        Assert.Equal(0, none.item<double>());
    }
}
