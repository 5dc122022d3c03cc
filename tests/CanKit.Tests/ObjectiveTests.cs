using CanKit.Methods;
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
        using var row = torch.randn([1, 16], ScalarType.Float64, generator: new Generator(4));
        using var z = row.expand(n, 16);
        using var r = InfoNceLoss.Compute(z, z, tau);
        Assert.Equal(Math.Log(2 * n - 1), r.Loss.item<double>(), 12);
    }

    [Fact]
    public void InfoNceMatchesAHandWrittenReference()
    {
        const int n = 3, d = 4;
        const double tau = 0.2;
        var g = new Generator(9);
        using var z1 = torch.randn([n, d], ScalarType.Float64, generator: g);
        using var z2 = torch.randn([n, d], ScalarType.Float64, generator: g);
        double[] a = Approx.Values(z1), b = Approx.Values(z2);
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
        Assert.Equal(total / (2 * n), r.Loss.item<double>(), 10);
        Assert.Equal((double)hits / (2 * n), r.Top1.item<float>(), 6);   // top-1 is a float32 share

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

    [Fact]
    public void AsymmetricInfoNceMatchesAHandWrittenReferenceAndStopsTheKeyGradient()
    {
        const int n = 4, d = 3;
        const double tau = 0.07;
        var g = new Generator(10);
        using var q = torch.randn([n, d], ScalarType.Float64, generator: g).requires_grad_();
        using var k = torch.randn([n, d], ScalarType.Float64, generator: g).requires_grad_();
        double[] qa = Approx.Values(q), ka = Approx.Values(k);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var logits = Enumerable.Range(0, n).Select(j => Cos(qa.AsSpan(i * d, d), ka.AsSpan(j * d, d)) / tau).ToArray();
            total += Math.Log(logits.Sum(Math.Exp)) - logits[i];
        }
        using var r = InfoNceLoss.Asymmetric(q, k, tau);
        Assert.Equal(total / n, r.Loss.item<double>(), 10);
        r.Loss.backward();
        Assert.NotNull(q.grad);
        Assert.Null(k.grad);

        static double Cos(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
        {
            double xy = 0, xx = 0, yy = 0;
            for (int i = 0; i < x.Length; i++) { xy += x[i] * y[i]; xx += x[i] * x[i]; yy += y[i] * y[i]; }
            return xy / Math.Sqrt(xx * yy);
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
        var g = new Generator(21);
        using var x = torch.randn([n, l, d], generator: g);
        using var m = RandomMasking.Apply(x, ratio, g);
        int keep = (int)(l * (1 - ratio));
        Assert.Equal(new long[] { n, keep, d }, m.Visible.shape);
        double[] mask = Approx.Values(m.Mask);
        for (int i = 0; i < n; i++) Assert.Equal(l - keep, mask.Skip(i * l).Take(l).Count(v => v == 1));
        AssertRestoresOrder(x, m, keep);
        // The visible tokens are exactly the unmasked positions.
        if (keep == 0) return;
        long[] ids = m.IdsKeep.data<long>().ToArray();
        for (int i = 0; i < n; i++)
            foreach (long j in ids.Skip(i * keep).Take(keep)) Assert.Equal(0, mask[i * l + (int)j]);
    }

    /// <summary>ids_restore inverts the shuffle: gathering [kept; removed] with it gives back the original order.</summary>
    private static void AssertRestoresOrder(Tensor x, Masked m, int keep)
    {
        long l = x.size(1);
        using var shuffle = m.IdsRestore.argsort(1);
        using var removedIds = shuffle.narrow(1, keep, l - keep);
        using var removed = CanKit.Tensors.Tokens.Gather(x, removedIds);
        using var shuffled = torch.cat([m.Visible, removed], 1);
        using var restored = CanKit.Tensors.Tokens.Gather(shuffled, m.IdsRestore);
        Assert.Equal(Approx.Values(x), Approx.Values(restored));
    }

    [Fact]
    public void MaskedPositionsAreUniform()
    {
        // χ² goodness of fit of how often each of L = 16 positions is removed, 4000 samples at ratio 0.5.
        const int n = 4000, l = 16;
        var g = new Generator(12345);
        using var x = torch.zeros([n, l, 1]);
        using var m = RandomMasking.Apply(x, 0.5, g);
        double[] mask = Approx.Values(m.Mask);
        var counts = new double[l];
        for (int i = 0; i < n; i++) for (int j = 0; j < l; j++) counts[j] += mask[i * l + j];
        double expected = n * 0.5, chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 30.58, $"χ² = {chi2:F2} with 15 degrees of freedom exceeds the 1% critical value 30.58");
    }

    /// <summary>
    /// CMAE's block masking (official <c>random_masking</c>): the mask is a union of aligned 2×2 blocks, ⌊Lb·(1−ratio)⌋
    /// blocks are kept whole, the visible tokens are exactly the kept positions and ids_restore inverts the order.
    /// </summary>
    [Theory]
    [InlineData(4, 0.65)]
    [InlineData(8, 0.65)]
    [InlineData(8, 0.5)]
    [InlineData(14, 0.75)]
    public void BlockMaskingRemovesWholeAlignedBlocks(int grid, double ratio)
    {
        const int n = 6, d = 2, b = 2;
        int l = grid * grid, gb = grid / b, lb = gb * gb, keepBlocks = (int)(lb * (1 - ratio));
        var g = new Generator(31);
        using var x = torch.randn([n, l, d], generator: g);
        using var m = RandomMasking.ApplyBlocks(x, ratio, grid, b, g);
        Assert.Equal(new long[] { n, keepBlocks * 4, d }, m.Visible.shape);
        double[] mask = Approx.Values(m.Mask);
        for (int i = 0; i < n; i++)
        {
            int kept = 0;
            for (int bi = 0; bi < gb; bi++)
            for (int bj = 0; bj < gb; bj++)
            {
                double first = mask[i * l + bi * b * grid + bj * b];
                for (int di = 0; di < b; di++)
                for (int dj = 0; dj < b; dj++)
                    Assert.Equal(first, mask[i * l + (bi * b + di) * grid + bj * b + dj]);
                if (first == 0) kept++;
            }
            Assert.Equal(keepBlocks, kept);
        }
        long[] ids = m.IdsKeep.data<long>().ToArray();
        for (int i = 0; i < n; i++)
            foreach (long j in ids.Skip(i * keepBlocks * 4).Take(keepBlocks * 4)) Assert.Equal(0, mask[i * l + (int)j]);
        using var visibleRef = CanKit.Tensors.Tokens.Gather(x, m.IdsKeep);
        Assert.Equal(Approx.Values(visibleRef), Approx.Values(m.Visible));
        AssertRestoresOrder(x, m, keepBlocks * 4);
        Assert.Equal("block", Assert.Throws<ArgumentOutOfRangeException>(() => RandomMasking.ApplyBlocks(torch.zeros(1, 49, 1), 0.5, 7, 8)).ParamName);
    }

    /// <summary>
    /// A 7×7 grid in 2×2 blocks (CanKit's extension for grids the block does not divide): blocks tile from the top-left,
    /// the last row and column of blocks partial; ⌊49·(1 − ratio)⌋ patches are kept, the lowest-noise blocks first, so at
    /// most one block is cut, and within it the kept patches come first in position order.
    /// </summary>
    [Theory]
    [InlineData(0.65)]
    [InlineData(0.5)]
    public void BlockMaskingOnAGridTheBlockDoesNotDivide(double ratio)
    {
        const int n = 50, grid = 7, gb = 4;
        int keep = (int)(49 * (1 - ratio));
        var g = new Generator(8);
        using var x = torch.randn([n, 49, 1], generator: g);
        using var noise = torch.rand([n, gb * gb], generator: g);
        using var m = RandomMasking.ApplyBlocks(x, ratio, grid, 2, noise: noise);
        Assert.Equal(new long[] { n, keep, 1 }, m.Visible.shape);
        double[] mask = Approx.Values(m.Mask), u = Approx.Values(noise);
        for (int i = 0; i < n; i++)
        {
            // Blocks in order of their noise; each fully kept until the budget runs out inside (at most) one of them.
            var order = Enumerable.Range(0, gb * gb).OrderBy(b => u[i * gb * gb + b]).ToArray();
            int left = keep;
            foreach (int b in order)
            {
                var cells = Enumerable.Range(0, 49).Where(t => t / grid / 2 * gb + t % grid / 2 == b).ToArray();   // position order
                foreach (int t in cells)
                    Assert.Equal(left-- > 0 ? 0.0 : 1.0, mask[i * 49 + t]);
            }
        }
        AssertRestoresOrder(x, m, keep);
    }

    [Fact]
    public void BlockMaskingKeepsTheLowestNoiseBlocksAndIsUniform()
    {
        // Given noise: on a 4×4 grid (2×2 blocks 0..3 row-major), noise (0.9, 0.1, 0.5, 0.3) at ratio 0.5 keeps blocks 1 and 3.
        using var x = torch.zeros([1, 16, 1]);
        using var noise = torch.tensor(new float[] { 0.9f, 0.1f, 0.5f, 0.3f }, [1, 4]);
        using (var m = RandomMasking.ApplyBlocks(x, 0.5, 4, 2, noise: noise))
            Assert.Equal(new double[] { 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0 }, Approx.Values(m.Mask));
        // χ² goodness of fit of how often each of the Lb = 16 blocks of an 8×8 grid is removed, 4000 samples at 0.5.
        const int n = 4000, lb = 16;
        var g = new Generator(2024);
        using var tokens = torch.zeros([n, 64, 1]);
        using var mb = RandomMasking.ApplyBlocks(tokens, 0.5, 8, 2, g);
        using var perBlock = mb.Mask.view(n, 4, 2, 4, 2).select(4, 0).select(2, 0).reshape(n, lb);   // each block's top-left patch
        double[] mask = Approx.Values(perBlock);
        var counts = new double[lb];
        for (int i = 0; i < n; i++) for (int j = 0; j < lb; j++) counts[j] += mask[i * lb + j];
        double expected = n * 0.5, chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 30.58, $"χ² = {chi2:F2} with 15 degrees of freedom exceeds the 1% critical value 30.58");
    }

    [Fact]
    public void ExplicitMaskIsHonoured()
    {
        using var x = torch.arange(0, 2 * 4 * 2, 1, ScalarType.Float32).reshape(2, 4, 2);
        using var mask = torch.tensor(new float[] { 1, 0, 1, 0, 0, 0, 1, 1 }, [2, 4]);
        using var m = RandomMasking.FromMask(x, mask);
        Assert.Equal(Approx.Values(mask), Approx.Values(m.Mask));
        Assert.Equal(new double[] { 2, 3, 6, 7, 8, 9, 10, 11 }, Approx.Values(m.Visible));
        using var uneven = torch.tensor(new float[] { 1, 0, 0, 0, 0, 0, 1, 1 }, [2, 4]);
        Assert.Equal("mask", Assert.Throws<ArgumentException>(() => RandomMasking.FromMask(x, uneven)).ParamName);
    }

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
