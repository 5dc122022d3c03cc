using CanKit.Augment;
using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

public class AugmentTests
{
    private static Tensor Image(long n = 2, long c = 3, long s = 8, ulong seed = 1) => Tensor.Rand([n, c, s, s], new Generator(seed));

    private static CropBoxes Boxes(float cx, float cy, float w, float h, long n = 2) =>
        new(Tensor.Full([n], cx), Tensor.Full([n], cy), Tensor.Full([n], w), Tensor.Full([n], h));

    [Fact]
    public void IdentityBoxReturnsTheImageAndNegativeWidthFlipsIt()
    {
        using var x = Image();
        using (var id = Boxes(0, 0, 1, 1))
        using (var y = Geometric.Crop(x, id, 8))
            AssertClose(x.ToArray<float>(), y.ToArray<float>(), 1e-6);
        using (var flip = Boxes(0, 0, -1, 1))
        using (var y = Geometric.Crop(x, flip, 8))
        using (var expected = x.Flip(3))
            AssertClose(expected.ToArray<float>(), y.ToArray<float>(), 1e-6);
        // The right half stretched to 8 columns: output column 2 samples input column 4.75 = 0.25·x₄ + 0.75·x₅.
        using (var half = Boxes(0.5f, 0, 0.5f, 1))
        using (var y = Geometric.Crop(x, half, 8))
        using (var expected = x.Select(3, 4) * 0.25 + x.Select(3, 5) * 0.75)
            AssertClose(expected.ToArray<float>(), y.Select(3, 2).ToArray<float>(), 1e-5);
    }

    [Fact]
    public void RandomCropsAreSeededAndInsideTheImage()
    {
        using var g1 = new Generator(5);
        using var g2 = new Generator(5);
        using var a = Geometric.RandomResizedCrop(1000, g1, Device.Cpu, (0.2, 1), (0.75, 4.0 / 3), 0.5);
        using var b = Geometric.RandomResizedCrop(1000, g2, Device.Cpu, (0.2, 1), (0.75, 4.0 / 3), 0.5);
        Assert.Equal(a.Cx.ToArray<float>(), b.Cx.ToArray<float>());
        float[] w = a.W.ToArray<float>(), h = a.H.ToArray<float>(), cx = a.Cx.ToArray<float>();
        for (int i = 0; i < w.Length; i++)
        {
            float aw = Math.Abs(w[i]);
            Assert.InRange(aw * h[i], 0.2f * 0.75f, 1.0001f);              // area share (sides clamped to 1)
            Assert.InRange(Math.Abs(cx[i]) + aw, 0, 1.0001f);             // inside the image
        }
        Assert.InRange(w.Count(v => v < 0), 400, 600);                    // flipped half of the time
    }

    [Fact]
    public void ZeroPixelShiftKeepsTheBoxes()
    {
        using var b = Boxes(0.1f, -0.2f, 0.5f, 0.6f);
        using var s = Geometric.Shift(b, 0, new Generator(1));
        Assert.Equal(b.Cx.ToArray<float>(), s.Cx.ToArray<float>());
        using var moved = Geometric.Shift(b, 31.0 / 256, new Generator(1));
        Assert.All(moved.Cx.ToArray<float>().Zip(b.Cx.ToArray<float>()), p => Assert.InRange(p.First - p.Second, 0, 2 * 31.0 / 256 + 1e-6));
    }

    [Fact]
    public void PhotometricsWithProbabilityZeroAreIdentityAndGrayscaleUsesLuma()
    {
        using var x = Image();
        using (var y = Photometric.ColorJitter(x, new Generator(2), 0.4, 0.4, 0.4, 0.1, p: 0))
            Assert.Equal(x.ToArray<float>(), y.ToArray<float>());
        using var gray = Photometric.RandomGrayscale(x, new Generator(2), p: 1);
        float[] v = x.ToArray<float>(), gv = gray.ToArray<float>();
        int plane = 64;
        for (int i = 0; i < plane; i++)
        {
            float luma = 0.299f * v[i] + 0.587f * v[plane + i] + 0.114f * v[2 * plane + i];
            Assert.Equal(luma, gv[i], 5);
            Assert.Equal(gv[i], gv[2 * plane + i]);
        }
    }

    [Fact]
    public void JitterWithoutHueKeepsGrayPixelsGrayAndInRange()
    {
        using var x = Image(4, 3, 8);
        using var y = Photometric.ColorJitter(x, new Generator(3), 0.4, 0.4, 0.4, 0.1, p: 1);
        float[] v = y.ToArray<float>();
        Assert.All(v, e => Assert.InRange(e, 0f, 1f));
        Assert.NotEqual(x.ToArray<float>(), v);
    }

    [Fact]
    public void BlurKeepsConstantImagesAndReflectPadMirrors()
    {
        using var flat = Tensor.Full([3, 3, 32, 32], 0.25);
        using (var y = Photometric.RandomGaussianBlur(flat, new Generator(4), p: 1))
            Assert.All(y.ToArray<float>(), e => Assert.Equal(0.25f, e, 5));
        using var row = Tensor.From(new float[] { 1, 2, 3, 4 }, 1, 1, 1, 4);
        using var padded = Photometric.ReflectPad(row, 2);
        Assert.Equal(new float[] { 3, 2, 1, 2, 3, 4, 3, 2 }, padded.Select(2, 2).Reshape(-1).ToArray<float>());
    }

    [Fact]
    public void PipelinesAreSeededAndShaped()
    {
        using var raw = Tensor.RandInt(0, 256, [4, 3, 32, 32], new Generator(9), DType.UInt8);
        foreach (var pipe in new[] { TwoViewPipeline.Can, TwoViewPipeline.Cmae })
        {
            var (a1, a2) = pipe.Apply(raw, Normalization.Cifar10, 32, new Generator(7));
            var (b1, b2) = pipe.Apply(raw, Normalization.Cifar10, 32, new Generator(7));
            using (a1) using (a2) using (b1) using (b2)
            {
                Assert.Equal(new long[] { 4, 3, 32, 32 }, a1.Shape);
                Assert.Equal(a1.ToArray<float>(), b1.ToArray<float>());
                Assert.Equal(a2.ToArray<float>(), b2.ToArray<float>());
                Assert.NotEqual(a1.ToArray<float>(), a2.ToArray<float>());
            }
        }
        using var gray = Tensor.RandInt(0, 256, [2, 1, 28, 28], new Generator(9), DType.UInt8);
        var (g1, g2) = TwoViewPipeline.Can.Apply(gray, Normalization.FashionMnist, 28, new Generator(1));
        using (g1) using (g2) Assert.Equal(new long[] { 2, 1, 28, 28 }, g2.Shape);
    }

    private static void AssertClose(float[] e, float[] a, double tol)
    {
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++) Assert.True(Math.Abs(e[i] - a[i]) <= tol, $"element {i}: {e[i]} vs {a[i]}");
    }
}
