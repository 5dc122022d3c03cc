using CanKit.Augment;
using CanKit.Data;
using Xunit;
// TorchSharp.Modules has a Geometric distribution too.
using Geometric = CanKit.Augment.Geometric;

namespace CanKit.Tests;

public partial class AugmentTests
{
    private static Tensor Image(long n = 2, long c = 3, long s = 8, ulong seed = 1)
    {
        using var g = new torch.Generator(seed);
        return torch.rand([n, c, s, s], generator: g);
    }

    private static CropBoxes Boxes(float cx, float cy, float w, float h, long n = 2) =>
        new(torch.full([n], cx), torch.full([n], cy), torch.full([n], w), torch.full([n], h));

    [Fact]
    public void IdentityBoxReturnsTheImageAndNegativeWidthFlipsIt()
    {
        using var x = Image();
        using (var id = Boxes(0, 0, 1, 1))
        using (var y = Geometric.Crop(x, id, 8))
            AssertClose(x.Host<float>(), y.Host<float>(), 1e-6);
        using (var flip = Boxes(0, 0, -1, 1))
        using (var y = Geometric.Crop(x, flip, 8))
        using (var expected = x.flip(3))
            AssertClose(expected.Host<float>(), y.Host<float>(), 1e-6);
        // The right half stretched to 8 columns: output column 2 samples input column 4.75 = 0.25·x₄ + 0.75·x₅.
        using (var half = Boxes(0.5f, 0, 0.5f, 1))
        using (var y = Geometric.Crop(x, half, 8))
        using (var expected = x.select(3, 4) * 0.25 + x.select(3, 5) * 0.75)
            AssertClose(expected.Host<float>(), y.select(3, 2).Host<float>(), 1e-5);
    }

    [Fact]
    public void RandomCropsAreSeededAndInsideTheImage()
    {
        using var g1 = new torch.Generator(5);
        using var g2 = new torch.Generator(5);
        using var a = Geometric.RandomResizedCrop(1000, g1, torch.CPU, (0.2, 1), (0.75, 4.0 / 3), 0.5);
        using var b = Geometric.RandomResizedCrop(1000, g2, torch.CPU, (0.2, 1), (0.75, 4.0 / 3), 0.5);
        Assert.Equal(a.Cx.Host<float>(), b.Cx.Host<float>());
        Assert.Equal(a.W.Host<float>(), b.W.Host<float>());
        float[] w = a.W.Host<float>(), h = a.H.Host<float>(), cx = a.Cx.Host<float>(), cy = a.Cy.Host<float>();
        for (int i = 0; i < w.Length; i++)
        {
            float aw = Math.Abs(w[i]);
            Assert.InRange(aw * h[i], 0.2f * 0.75f, 1.0001f);              // area share (sides clamped to 1)
            Assert.InRange(Math.Abs(cx[i]) + aw, 0, 1.0001f);             // inside the image
            Assert.InRange(Math.Abs(cy[i]) + h[i], 0, 1.0001f);
        }
        // Flips are Bernoulli(0.5): 1000 draws have σ = √(1000·¼) ≈ 15.8, so 400..600 is > 6σ wide.
        Assert.InRange(w.Count(v => v < 0), 400, 600);
        Assert.Throws<ArgumentOutOfRangeException>(() => Geometric.RandomResizedCrop(4, g1, torch.CPU, (0, 1), (0.75, 4.0 / 3), 0.5));
    }

    [Fact]
    public void ImageFrameShiftMovesTheWholeBoxByAShareOfTheImage()
    {
        // The ablation's "shift of the image": the box keeps its size and moves by U[0, 31/256] of the image side.
        using var b = Boxes(0.1f, -0.2f, 0.5f, 0.6f);
        using var g = new torch.Generator(1);
        using var s = Geometric.Shift(b, 0, g);
        Assert.Equal(b.Cx.Host<float>(), s.Cx.Host<float>());
        var (online, target) = Geometric.PixelShiftPair(b, PixelShift.OfficialCode with { Frame = ShiftFrame.Image }, g);
        using (online) using (target)
        {
            Assert.Equal(b.Cx.Host<float>(), online.Cx.Host<float>());
            Assert.All(target.Cx.Host<float>().Zip(b.Cx.Host<float>()), p => Assert.InRange(p.First - p.Second, 0, 2 * 31.0 / 256 + 1e-6));
            Assert.Equal(b.W.Host<float>(), target.W.Host<float>());
        }
    }

    /// <summary>
    /// CMAE's official shift (CMAEDataset + ShiftPixel): in a crop resized to 256, the online view is
    /// <c>img[0:224, 0:224]</c> and the target <c>img[dy:dy+224, dx:dx+224]</c>, dy, dx ∈ {0, …, 31}. On a 256-px image
    /// whose crop is the whole image that is exact pixel slicing: every output pixel centre lands on an input pixel
    /// centre, so bilinear sampling returns the pixel up to float32 rounding of the sampling grid: a few roundings of
    /// 2⁻²⁴ on coordinates of size ≤ 2 grid units, 128 pixels per unit, put the point ≤ ~6e-5 pixel off, and the value
    /// off by that times the neighbour difference (≤ 1): tolerance 1e-4.
    /// A flipped crop is flipped first, then shifted, as the official pipeline does.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PixelShiftOfAWholeImageCropIsTheOfficialSlice(bool flipped)
    {
        using var x = Image(3, 3, 256, seed: 4);
        using var crop = Boxes(0, 0, flipped ? -1 : 1, 1, n: 3);
        using var g = new torch.Generator(8);
        var (online, target) = Geometric.PixelShiftPair(crop, PixelShift.OfficialCode, g);
        using (online) using (target)
        using (var src = flipped ? x.flip(3) : x.alias())
        using (var v1 = Geometric.Crop(x, online, 224))
        using (var v2 = Geometric.Crop(x, target, 224))
        {
            float[] tcx = target.Cx.Host<float>(), tcy = target.Cy.Host<float>(), ocx = online.Cx.Host<float>();
            for (int i = 0; i < 3; i++)
            {
                // Offsets back from the boxes: cx_t − cx_o = w·2·dx/256.
                int dx = (int)Math.Round((tcx[i] - ocx[i]) * 128 / (flipped ? -1 : 1)), dy = (int)Math.Round((tcy[i] - online.Cy.Host<float>()[i]) * 128);
                Assert.InRange(dx, 0, 31);
                Assert.InRange(dy, 0, 31);
                using var want1 = src[i].narrow(1, 0, 224).narrow(2, 0, 224);
                using var want2 = src[i].narrow(1, dy, 224).narrow(2, dx, 224);
                AssertClose(want1.Host<float>(), v1[i].Host<float>(), 1e-4);
                AssertClose(want2.Host<float>(), v2[i].Host<float>(), 1e-4);
            }
        }
    }

    /// <summary>
    /// Over 20 000 random crops (scale 0.2–1, flips): the target window is the online one moved by an integer number of
    /// crop/256 steps in {0, …, 31} per axis, uniform (χ² over 32 bins), its side 224/256 of the crop's, and it stays
    /// inside the crop and so inside the image. A shift measured against the image instead (ShiftFrame.Image)
    /// gives non-integer steps on every crop smaller than the image and fails the first check.
    /// </summary>
    [Fact]
    public void PixelShiftIsUniformInCropPixelsAndStaysInsideTheCrop()
    {
        const int n = 20000;
        using var g = new torch.Generator(13);
        using var crop = Geometric.RandomResizedCrop(n, g, torch.CPU, (0.2, 1), (0.75, 4.0 / 3), 0.5);
        var (online, target) = Geometric.PixelShiftPair(crop, PixelShift.OfficialCode, g);
        using (online) using (target)
        {
            float[] cx = crop.Cx.Host<float>(), cy = crop.Cy.Host<float>(), w = crop.W.Host<float>(), h = crop.H.Host<float>();
            float[] ox = online.Cx.Host<float>(), oy = online.Cy.Host<float>(), tx = target.Cx.Host<float>(), ty = target.Cy.Host<float>();
            float[] tw = target.W.Host<float>(), th = target.H.Host<float>();
            var countX = new double[32];
            var countY = new double[32];
            for (int i = 0; i < n; i++)
            {
                // Steps of the shift in crop pixels (2·w/256 grid units each); float32 boxes carry ~1e-6 of rounding.
                double sx = (tx[i] - ox[i]) * 128 / w[i], sy = (ty[i] - oy[i]) * 128 / h[i];
                int kx = (int)Math.Round(sx), ky = (int)Math.Round(sy);
                Assert.True(Math.Abs(sx - kx) < 1e-3 && Math.Abs(sy - ky) < 1e-3, $"sample {i}: shift of {sx}, {sy} crop pixels is not whole");
                Assert.InRange(kx, 0, 31);
                Assert.InRange(ky, 0, 31);
                countX[kx]++;
                countY[ky]++;
                Assert.Equal(Math.Abs(w[i]) * 224 / 256, Math.Abs(tw[i]), 1e-6);
                Assert.Equal(h[i] * 224 / 256, th[i], 1e-6);
                // Inside the crop (hence the image): the window's extent within the crop's, to float32 rounding.
                Assert.True(Math.Abs(tx[i] - cx[i]) + Math.Abs(tw[i]) <= Math.Abs(w[i]) + 1e-6, $"sample {i} leaves its crop in x");
                Assert.True(Math.Abs(ty[i] - cy[i]) + th[i] <= h[i] + 1e-6, $"sample {i} leaves its crop in y");
                Assert.True(Math.Abs(tx[i]) + Math.Abs(tw[i]) <= 1 + 1e-6 && Math.Abs(ty[i]) + th[i] <= 1 + 1e-6, $"sample {i} leaves the image");
            }
            // χ² with 31 degrees of freedom: the 0.1% critical value is 61.10 (one test in a thousand fails by chance).
            foreach (var counts in new[] { countX, countY })
            {
                double e = n / 32.0, chi2 = counts.Sum(c => (c - e) * (c - e) / e);
                Assert.True(chi2 < 61.10, $"χ² = {chi2:F1} over 32 offsets");
            }
        }
        Assert.Equal("MaxPixels", Assert.Throws<ArgumentOutOfRangeException>(() => new PixelShift { MaxPixels = 40 }.Validate()).ParamName);
    }

    [Theory]
    [MemberData(nameof(Devices.All), MemberType = typeof(Devices))]
    public void PipelinesAreSeededAndShaped(string deviceName)
    {
        Device device = torch.device(deviceName);
        using var gen = new torch.Generator(9);
        using var cpuRaw = torch.randint(0, 256, [4, 3, 32, 32], ScalarType.Byte, generator: gen);
        using var raw = cpuRaw.to(device);
        foreach (var pipe in new[] { TwoViewPipeline.Can, TwoViewPipeline.Cmae })
        {
            using var ga = new torch.Generator(7, device);
            using var gb = new torch.Generator(7, device);
            var (a1, a2) = pipe.Apply(raw, Normalization.Cifar10, 32, ga);
            var (b1, b2) = pipe.Apply(raw, Normalization.Cifar10, 32, gb);
            using (a1) using (a2) using (b1) using (b2)
            {
                Assert.Equal(new long[] { 4, 3, 32, 32 }, a1.shape);
                Assert.Equal(ScalarType.Float32, a1.dtype);
                Assert.Equal(device.type, a2.device.type);
                Assert.Equal(a1.Host<float>(), b1.Host<float>());
                Assert.Equal(a2.Host<float>(), b2.Host<float>());
                Assert.NotEqual(a1.Host<float>(), a2.Host<float>());
            }
        }
        using var cpuGray = torch.randint(0, 256, [2, 1, 28, 28], ScalarType.Byte, generator: gen);
        using var gray = cpuGray.to(device);
        using var g1 = new torch.Generator(1, device);
        var (v1, v2) = TwoViewPipeline.Can.Apply(gray, Normalization.FashionMnist, 28, g1);
        using (v1) using (v2) Assert.Equal(new long[] { 2, 1, 28, 28 }, v2.shape);
    }

    [Fact]
    public void PipelineLeavesNoTensorsBehind()
    {
        using var gen = new torch.Generator(9);
        using var raw = torch.randint(0, 256, [2, 3, 16, 16], ScalarType.Byte, generator: gen);
        using var scope = torch.NewDisposeScope();
        var (v1, v2) = TwoViewPipeline.Cmae.Apply(raw, Normalization.Cifar10, 16, gen);
        // Only the two views were created in (or moved to) this scope; everything else was freed inside Apply.
        Assert.Equal(2, scope.DisposablesCount);
        Assert.False(v1.IsInvalid || v2.IsInvalid);
    }

    private static void AssertClose(float[] e, float[] a, double tol)
    {
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol, $"element {i}: {e[i]} vs {a[i]}");
    }
}
