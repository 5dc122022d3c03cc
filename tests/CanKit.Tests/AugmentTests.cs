using CanKit.Augment;
using CanKit.Data;
using Xunit;
// TorchSharp.Modules has a Geometric distribution too.
using Geometric = CanKit.Augment.Geometric;

namespace CanKit.Tests;

public class AugmentTests
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
    public void ZeroPixelShiftKeepsTheBoxes()
    {
        using var b = Boxes(0.1f, -0.2f, 0.5f, 0.6f);
        using var g = new torch.Generator(1);
        using var s = Geometric.Shift(b, 0, g);
        Assert.Equal(b.Cx.Host<float>(), s.Cx.Host<float>());
        using var moved = Geometric.Shift(b, 31.0 / 256, g);
        Assert.All(moved.Cx.Host<float>().Zip(b.Cx.Host<float>()), p => Assert.InRange(p.First - p.Second, 0, 2 * 31.0 / 256 + 1e-6));
        Assert.Equal(b.W.Host<float>(), moved.W.Host<float>());
    }

    [Fact]
    public void PhotometricsWithProbabilityZeroAreIdentityAndGrayscaleUsesLuma()
    {
        using var x = Image();
        using var g = new torch.Generator(2);
        using (var y = Photometric.ColorJitter(x, g, 0.4, 0.4, 0.4, 0.1, p: 0))
            Assert.Equal(x.Host<float>(), y.Host<float>());
        using var gray = Photometric.RandomGrayscale(x, g, p: 1);
        float[] v = x.Host<float>(), gv = gray.Host<float>();
        int plane = 64;
        for (int i = 0; i < plane; i++)
        {
            float luma = 0.299f * v[i] + 0.587f * v[plane + i] + 0.114f * v[2 * plane + i];
            Assert.Equal(luma, gv[i], 1e-6);    // three float32 products of values ≤ 1 summed
            Assert.Equal(gv[i], gv[2 * plane + i]);
        }
    }

    [Fact]
    public void JitterStaysInRangeAndChangesTheImage()
    {
        using var x = Image(4, 3, 8);
        using var g = new torch.Generator(3);
        using var y = Photometric.ColorJitter(x, g, 0.4, 0.4, 0.4, 0.1, p: 1);
        float[] v = y.Host<float>();
        Assert.All(v, e => Assert.InRange(e, 0f, 1f));
        Assert.NotEqual(x.Host<float>(), v);
        // All strengths 0: every factor is 1 and the hue rotation the identity (YIQ there and back exactly), so
        // only float32 rounding of the few steps remains.
        using (var same = Photometric.ColorJitter(x, g, 0, 0, 0, 0, p: 1))
            AssertClose(x.Host<float>(), same.Host<float>(), 1e-6);
        // With only brightness (factor b ∈ [0.6, 1.4], no clamping for inputs ≤ 0.5) every pixel of a sample is
        // scaled by the same factor.
        using var dark = x * 0.5;
        using var g2 = new torch.Generator(3);
        using var bright = Photometric.ColorJitter(dark, g2, 0.4, 0, 0, 0, p: 1);
        float[] d = dark.Host<float>(), br = bright.Host<float>();
        for (int s = 0; s < 4; s++)
        {
            int o = s * 192;
            int k = Enumerable.Range(o, 192).First(i => d[i] > 0.05f);
            float factor = br[k] / d[k];
            Assert.InRange(factor, 0.6f - 1e-5f, 1.4f + 1e-5f);
            for (int i = o; i < o + 192; i++) Assert.Equal(d[i] * factor, br[i], 1e-5);
        }
    }

    [Fact]
    public void BlurKeepsConstantImagesAndReflectPadMirrors()
    {
        using var flat = torch.full([3, 3, 32, 32], 0.25f);
        using var g = new torch.Generator(4);
        using (var y = Photometric.RandomGaussianBlur(flat, g, p: 1))
            Assert.All(y.Host<float>(), e => Assert.Equal(0.25f, e, 1e-6));   // normalised kernel of 3 taps per pass
        using var row = torch.tensor(new float[] { 1, 2, 3, 4 }, [1, 1, 1, 4]);
        using var padded = Photometric.ReflectPad(row, 2);
        Assert.Equal(new float[] { 3, 2, 1, 2, 3, 4, 3, 2 }, padded.select(2, 2).reshape(-1).Host<float>());
    }

    [Fact]
    public void BlurOfAnImpulseIsTheNormalisedGaussian()
    {
        // 30×30 → kernel k = 3 (r = 1); an impulse away from the border spreads into the separable kernel
        // w(d) = e^(−d²/2σ²) / Σ, so centre / neighbour = e^(1/2σ²) with σ in [0.1, 2].
        var px = new float[30 * 30];
        px[15 * 30 + 15] = 1;
        using var x = torch.tensor(px, [1, 1, 30, 30]);
        using var g = new torch.Generator(6);
        using var y = Photometric.RandomGaussianBlur(x, g, p: 1, sigmaMin: 1.0, sigmaMax: 1.0);
        float[] v = y.Host<float>();
        double e = Math.Exp(-1 / 2.0), sum = 1 + 2 * e;
        Assert.Equal(1 / (sum * sum), v[15 * 30 + 15], 1e-6);
        Assert.Equal(e / (sum * sum), v[15 * 30 + 16], 1e-6);
        Assert.Equal(e * e / (sum * sum), v[16 * 30 + 16], 1e-6);
        Assert.Equal(1.0, v.Sum(), 1e-5);
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
