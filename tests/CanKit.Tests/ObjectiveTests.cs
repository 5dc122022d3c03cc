using CanKit.Methods;
using CanKit.Nn;
using CanKit.Objectives;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>Closed forms and properties of the objectives' building blocks.</summary>
public class ObjectiveTests
{
    [Theory]
    [InlineData(2, 0.1)]
    [InlineData(8, 0.5)]
    [InlineData(32, 0.07)]
    public void InfoNceOfIdenticalEmbeddingsIsLogTwoNMinusOne(int n, double tau)
    {
        using var row = Tensor.Randn([1, 16], new Generator(4), DType.Float64);
        using var z = row.Expand(n, 16);
        using var r = InfoNceLoss.Compute(z, z, tau);
        Assert.Equal(Math.Log(2 * n - 1), r.Loss.Item<double>(), 12);
    }

    [Fact]
    public void InfoNceMatchesAHandWrittenReference()
    {
        const int n = 3, d = 4;
        const double tau = 0.2;
        using var g = new Generator(9);
        using var z1 = Tensor.Randn([n, d], g, DType.Float64);
        using var z2 = Tensor.Randn([n, d], g, DType.Float64);
        double[] a = z1.ToArray<double>(), b = z2.ToArray<double>();
        var z = new double[2 * n][];
        for (int i = 0; i < n; i++)
        {
            z[i] = Unit(a.AsSpan(i * d, d));
            z[i + n] = Unit(b.AsSpan(i * d, d));
        }
        double total = 0;
        int hits = 0;
        for (int i = 0; i < 2 * n; i++)
        {
            int pos = i < n ? i + n : i - n;
            var logits = Enumerable.Range(0, 2 * n).Where(j => j != i).Select(j => (j, v: Dot(z[i], z[j]) / tau)).ToList();
            double lse = Math.Log(logits.Sum(t => Math.Exp(t.v)));
            total += lse - logits.First(t => t.j == pos).v;
            if (logits.MaxBy(t => t.v).j == pos) hits++;
        }
        using var r = InfoNceLoss.Compute(z1, z2, tau);
        Assert.Equal(total / (2 * n), r.Loss.Item<double>(), 10);
        Assert.Equal((double)hits / (2 * n), r.Top1.Item<double>(), 6); // top-1 is a float32 share

        static double Dot(double[] x, double[] y) => x.Zip(y, (p, q) => p * q).Sum();
        static double[] Unit(ReadOnlySpan<double> v)
        {
            double s = 0;
            foreach (var e in v) s += e * e;
            var o = v.ToArray();
            for (int i = 0; i < o.Length; i++) o[i] /= Math.Sqrt(s);
            return o;
        }
    }

    [Theory]
    [InlineData(16, 0.0)]
    [InlineData(16, 0.5)]
    [InlineData(49, 0.75)]
    [InlineData(64, 0.65)]
    [InlineData(10, 0.99)]
    public void MaskingKeepsFloorOfLTimesOneMinusRatioAndRestoresOrder(int l, double ratio)
    {
        const int n = 5, d = 3;
        using var g = new Generator(21);
        using var x = Tensor.Randn([n, l, d], g);
        using var m = RandomMasking.Apply(x, ratio, g);
        int keep = (int)(l * (1 - ratio));
        Assert.Equal(new long[] { n, keep, d }, m.Visible.Shape);
        float[] mask = m.Mask.ToArray<float>();
        for (int i = 0; i < n; i++) Assert.Equal(l - keep, mask.Skip(i * l).Take(l).Count(v => v == 1f));
        // ids_restore inverts the shuffle: gathering [kept; removed] with it gives back the original order.
        using var removedIds = m.IdsRestore.ArgSort(1).Narrow(1, keep, l - keep);
        using var removed = RandomMasking.Gather(x, removedIds);
        using var shuffled = Tensor.Cat([m.Visible, removed], 1);
        using var restored = RandomMasking.Gather(shuffled, m.IdsRestore);
        Assert.Equal(x.ToArray<float>(), restored.ToArray<float>());
        // The visible tokens are exactly the unmasked positions.
        long[] ids = m.IdsKeep.ToArray<long>();
        for (int i = 0; i < n; i++)
            foreach (long j in ids.Skip(i * keep).Take(keep)) Assert.Equal(0f, mask[i * l + (int)j]);
    }

    [Fact]
    public void MaskedPositionsAreUniform()
    {
        // χ² goodness of fit of how often each of L = 16 positions is removed, 4000 samples at ratio 0.5.
        const int n = 4000, l = 16;
        using var g = new Generator(12345);
        using var x = Tensor.Zeros([n, l, 1]);
        using var m = RandomMasking.Apply(x, 0.5, g);
        float[] mask = m.Mask.ToArray<float>();
        var counts = new double[l];
        for (int i = 0; i < n; i++) for (int j = 0; j < l; j++) counts[j] += mask[i * l + j];
        double expected = n * 0.5, chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 30.58, $"χ² = {chi2:F2} with 15 degrees of freedom exceeds the 1% critical value 30.58");
    }

    [Fact]
    public void ExplicitMaskIsHonoured()
    {
        using var x = Tensor.Arange(0, 2 * 4 * 2, 1, DType.Float32).Reshape(2, 4, 2);
        using var mask = Tensor.From(new float[] { 1, 0, 1, 0, 0, 0, 1, 1 }, 2, 4);
        using var m = RandomMasking.FromMask(x, mask);
        Assert.Equal(mask.ToArray<float>(), m.Mask.ToArray<float>());
        Assert.Equal(new float[] { 2, 3, 6, 7, 8, 9, 10, 11 }, m.Visible.ToArray<float>());
    }

    [Fact]
    public void EmaIsExactlyMuTargetPlusOneMinusMuSource()
    {
        using var g = new Generator(5);
        using var online = new Linear(3, 2, generator: g);
        using var target = new Linear(3, 2, generator: g);
        float[] t0 = target.Weight.ToArray<float>(), s0 = online.Weight.ToArray<float>();
        const double mu = 0.996;
        Ema.Update(target, online, mu);
        float[] t1 = target.Weight.ToArray<float>();
        for (int i = 0; i < t0.Length; i++) Assert.Equal((float)((float)(t0[i] * (float)mu) + s0[i] * (float)(1 - mu)), t1[i]);
        Assert.Equal(0.996, Ema.CosineMomentum(0.996, 0, 100), 12);
        Assert.Equal(1.0, Ema.CosineMomentum(0.996, 100, 100), 12);
        Assert.Equal(0.998, Ema.CosineMomentum(0.996, 50, 100), 12);
    }

    [Fact]
    public void CmaeTargetGetsNoGradient()
    {
        using var g = new Generator(6);
        var enc = new VitConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2 };
        using var cmae = new Cmae(new CmaeConfig { Encoder = enc, PixelDecoder = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 }, FeatureDecoder = new DecoderConfig { Width = 16, Depth = 2, Heads = 2 }, ProjectionDim = 8, ProjectionHidden = 16 }, g);
        using var x = Tensor.Randn([4, 3, 8, 8], g);
        using var r = cmae.Forward(x, x, g);
        r.Loss.Backward();
        foreach (var p in cmae.TargetEncoder.Parameters().Concat(cmae.TargetProjector.Parameters()))
            Assert.Null(p.Grad);
        using var gw = cmae.Encoder.Blocks[0].Attn.Qkv.Weight.Grad;
        Assert.NotNull(gw);
    }

    [Fact]
    public void SigmaEmbeddingChangesDecoderOutputOnlyWhenEnabled()
    {
        var enc = new VitConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2, ClsToken = false };
        var dec = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 };
        float[] Run(bool sigmaEmbedding, double sigma)
        {
            using var g = new Generator(8);
            using var can = new Can(new CanConfig { Encoder = enc, Decoder = dec, SigmaEmbedding = sigmaEmbedding, ProjectionDim = 8 }, g);
            using var x = Tensor.Randn([2, 3, 8, 8], new Generator(1));
            using var eps = Tensor.Zeros([4, 3, 8, 8]);            // σ changes only what the decoder is told
            using var s = Tensor.Full([4], sigma);
            using var maskNoise = Tensor.Rand([4, 4], new Generator(2));
            using var r = can.Forward(x, x, null, new StepRandomness(maskNoise, s, eps), keepPredictions: true);
            return r.Predictions!.Pixels.ToArray<float>();
        }
        Assert.NotEqual(Run(true, 0.01), Run(true, 0.09));
        Assert.Equal(Run(false, 0.01), Run(false, 0.09));
    }

    [Fact]
    public void CanRunsInFloat64AndAgreesWithFloat32()
    {
        var enc = new VitConfig { ImageSize = 8, PatchSize = 4, Width = 16, Depth = 1, Heads = 2, ClsToken = false };
        var dec = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 };
        double Loss(DType dtype)
        {
            using var g = new Generator(8);
            using var can = new Can(new CanConfig { Encoder = enc, Decoder = dec, ProjectionDim = 8 }, g);
            can.To(Device.Cpu, dtype);
            using var x32 = Tensor.Randn([2, 3, 8, 8], new Generator(1));
            using var x = x32.To(dtype);
            using var eps32 = Tensor.Randn([4, 3, 8, 8], new Generator(3));
            using var eps = eps32.To(dtype);
            using var s = Tensor.Full([4], 0.05, dtype);
            using var maskNoise = Tensor.Rand([4, 4], new Generator(2));
            using var r = can.Forward(x, x, null, new StepRandomness(maskNoise, s, eps));
            r.Loss.Backward();
            Assert.Equal(dtype, r.Loss.DType);
            using var l64 = r.Loss.To(DType.Float64);
            return l64.Item<double>();
        }
        double l32 = Loss(DType.Float32), l64 = Loss(DType.Float64);
        Assert.True(double.IsFinite(l64));
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
        Assert.Equal("ImageSize", Assert.Throws<ArgumentOutOfRangeException>(() => new Can(new CanConfig { Encoder = new VitConfig { ImageSize = 30, PatchSize = 4 } })).ParamName);
    }

    [Fact]
    public void PatchifyFollowsMaeLayoutAndRoundTrips()
    {
        using var img = Tensor.Arange(0, 2 * 3 * 4 * 4, 1, DType.Float32).Reshape(2, 3, 4, 4);
        using var p = Patches.Patchify(img, 2);
        Assert.Equal(new long[] { 2, 4, 12 }, p.Shape);
        // Patch 0 of image 0: pixels (0,0),(0,1),(1,0),(1,1), channels last → c·16 + h·4 + w.
        Assert.Equal(new float[] { 0, 16, 32, 1, 17, 33, 4, 20, 36, 5, 21, 37 }, p.Select(0, 0).Select(0, 0).ToArray<float>());
        using var back = Patches.Unpatchify(p, 2, 3);
        Assert.Equal(img.ToArray<float>(), back.ToArray<float>());
    }

    [Theory]
    [InlineData(4, 3, false, 8)]    // the reference layout: RGB, patch 4
    [InlineData(2, 1, true, 8)]     // one channel, a class token
    [InlineData(4, 3, false, 10)]   // 10 px is not a multiple of 4: the convolution path (it drops the remainder)
    public void PatchEmbeddingIsTheStridedConvolution(int patch, int channels, bool cls, int pixels)
    {
        if (!Torch.DnnlLinearAvailable) return;   // without oneDNN the embedding is the convolution itself
        using var dnnl = Torch.Override(EngineSetting.DnnlLinear, true);
        using var scope = Torch.NewDisposeScope();
        var g = new Generator(3);
        var cfg = new VitConfig { ImageSize = 8, PatchSize = patch, InChannels = channels, Width = 16, Depth = 1, Heads = 2, ClsToken = cls };
        using var vit = new VisionTransformer(cfg, g);
        var images = Tensor.Randn([3, channels, pixels, pixels], g);
        var r = Tensor.Randn([3, cfg.NumPatches, 16], g);
        // Embed(x) − Embed(0) = the projection without bias and position embedding.
        var tokens = vit.Embed(images) - vit.Embed(Tensor.Zeros([3, channels, pixels, pixels]));
        (tokens * r).Sum().Backward();
        var w = vit.PatchWeight.Detach().RequiresGrad_();
        var expected = Functional.Conv2d(images, w, stride: (patch, patch)).Flatten(2).Transpose(1, 2);   // [N, L, D]
        (expected * r).Sum().Backward();
        double[] F64(Tensor t) => t.To(Device.Cpu, DType.Float64).ToArray<double>();
        Approx.Equal(F64(expected), tokens, 1e-5);
        Approx.Equal(F64(w.Grad!), vit.PatchWeight.Grad!, 1e-4);   // float32 sums over 3·L tokens
        var wrong = Tensor.Randn([1, channels + 1, 8, 8], g);
        Assert.Contains("channels", Assert.Throws<TorchException>(() => vit.Embed(wrong)).Message);
    }

    [Fact]
    public void SinCosPositionEmbeddingMatchesItsFormula()
    {
        using var pe = PositionEmbedding.SinCos2D(8, 3, clsToken: true);
        Assert.Equal(new long[] { 10, 8 }, pe.Shape);
        float[] v = pe.ToArray<float>();
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
        using var g = new Generator(31);
        using var img = Tensor.Zeros([3, 1, 4, 4]);
        using var sigma = Tensor.From(new float[] { 0, 0.5f, 2 });
        using var noised = GaussianNoise.Apply(img, 0.1, g, sigma: sigma);
        using var stdPerSample = noised.Noise.Flatten(1).Std(1);
        float[] s = stdPerSample.ToArray<float>();
        Assert.Equal(0f, s[0]);
        Assert.InRange(s[2] / s[1], 3.0, 5.0);                                  // 16 samples each: ratio ≈ 4
        using var sampled = GaussianNoise.Apply(Tensor.Zeros([1000, 1, 1, 1]), 0.1, g);
        float[] sig = sampled.Sigma.ToArray<float>();
        Assert.All(sig, v => Assert.InRange(v, 0f, 0.1f));
        Assert.Equal(0.05, sig.Average(), 2);

        // Predictions that are wrong only on visible patches give zero reconstruction loss.
        using var target = Tensor.Randn([1, 1, 4, 4], g);
        using var patches = Patches.Patchify(target, 2);                         // [1, 4, 4]
        using var mask = Tensor.From(new float[] { 1, 0, 1, 0 }, 1, 4);
        using var wrong = patches + (1.0 - mask).Unsqueeze(-1) * 5.0;
        using var loss = PatchLosses.Reconstruction(wrong, target, mask, 2, normPix: false);
        Assert.Equal(0f, loss.Item<float>());
    }
}
