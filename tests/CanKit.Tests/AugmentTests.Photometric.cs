using CanKit.Augment;
using Xunit;

namespace CanKit.Tests;

// The photometric augmentations: colour jitter, grayscale and Gaussian blur.
public partial class AugmentTests
{
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
}
