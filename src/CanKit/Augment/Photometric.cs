using CanKit.Sampling;
using CanKit.Tensors;

namespace CanKit.Augment;

/// <summary>
/// Colour and blur augmentations on batches of images in [0, 1], [N, C, H, W], each sample with its own random
/// strength and its own coin flip, drawn on the device from a seeded generator.
/// </summary>
public static class Photometric
{
    /// <summary>ITU-R 601 luma weights, as torchvision's grayscale.</summary>
    private static readonly float[] Luma = [0.299f, 0.587f, 0.114f];

    private static Tensor Gray(Tensor x)
    {
        using var w = torch.tensor(Luma, [1, 3, 1, 1], x.dtype, x.device);
        using var weighted = x * w;
        return weighted.sum(1, keepdim: true);                                                     // [N, 1, H, W]
    }

    private static Tensor PerSample(Tensor u, long n) => u.view(n, 1, 1, 1);

    /// <summary>x where the coin says no, f(x) where it says yes (probability p per sample).</summary>
    private static Tensor Maybe(Tensor x, Tensor transformed, double p, Tensor coin)
    {
        using var apply = coin.lt(p).view(x.shape[0], 1, 1, 1);
        return torch.where(apply, transformed, x);
    }

    /// <summary>
    /// SimCLR's colour jitter with probability <paramref name="p"/>: brightness, contrast, saturation factors
    /// drawn from [1 − s, 1 + s], hue shift from [−hue, hue] of a full turn, applied in that fixed order, clamped
    /// to [0, 1] after each. Hue is rotated in YIQ space, a linear approximation of torchvision's HSV shift.
    /// Grayscale images get brightness and contrast only.
    /// </summary>
    public static Tensor ColorJitter(Tensor x, torch.Generator? g, double brightness, double contrast, double saturation, double hue, double p)
    {
        CheckImages(x);
        using var scope = torch.NewDisposeScope();
        long n = x.shape[0], c = x.shape[1];
        var u = SeededDraws.Rand([5, n], 1, x.dtype, x.device, g);                                // [5, N]
        Tensor Factor(int i, double s) => PerSample(u[i] * (2 * s) + (1 - s), n);                  // [N, 1, 1, 1]
        var y = (x * Factor(0, brightness)).clamp(0, 1);
        var mean = (c == 3 ? Gray(y) : y).mean([1, 2, 3], keepdim: true);                          // [N, 1, 1, 1]
        y = ((y - mean) * Factor(1, contrast) + mean).clamp(0, 1);
        if (c == 3)
        {
            var gray = Gray(y);
            y = ((y - gray) * Factor(2, saturation) + gray).clamp(0, 1);
            y = HueRotate(y, PerSample(u[3] * (2 * hue) - hue, n)).clamp(0, 1);
        }
        return Maybe(x, y, p, u[4]).MoveToOuterDisposeScope();
    }

    /// <summary>RGB → YIQ (NTSC), rows Y, I, Q.</summary>
    private static readonly double[] ToYiq = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312];

    /// <summary>YIQ → RGB as the exact inverse of <see cref="ToYiq"/> (the usual 3-digit table is off by ~2e-4,
    /// which would tint images even at zero hue shift).</summary>
    private static readonly double[] FromYiq = Invert3(ToYiq);

    private static double[] Invert3(double[] m)
    {
        double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
        double det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
        return [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
                (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
                (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det];
    }

    /// <summary>Rotates chroma by 2π·turns [N, 1, 1, 1] around the luma axis (YIQ).</summary>
    private static Tensor HueRotate(Tensor x, Tensor turns)
    {
        using var scope = torch.NewDisposeScope();
        long n = x.shape[0], h = x.shape[2], w = x.shape[3];
        var toYiq = torch.tensor(ToYiq, [3, 3], x.dtype, x.device);
        var fromYiq = torch.tensor(FromYiq, [3, 3], x.dtype, x.device);
        var angle = turns.view(n) * (2 * Math.PI);
        var cos = angle.cos();
        var sin = angle.sin();
        var one = torch.ones([n], x.dtype, x.device);
        var zero = torch.zeros([n], x.dtype, x.device);
        var rot = torch.stack([
            torch.stack([one, zero, zero], 1),
            torch.stack([zero, cos, -sin], 1),
            torch.stack([zero, sin, cos], 1)], 1);                                                  // [N, 3, 3]
        var m = fromYiq.matmul(rot).matmul(toYiq);                                                  // [N, 3, 3]
        var flat = x.reshape(n, 3, h * w);                                                          // [N, 3, HW]
        return m.bmm(flat).reshape(n, 3, h, w).MoveToOuterDisposeScope();                           // [N, 3, H, W]
    }

    /// <summary>Grayscale (luma replicated over channels) with probability <paramref name="p"/>.</summary>
    public static Tensor RandomGrayscale(Tensor x, torch.Generator? g, double p)
    {
        CheckImages(x);
        if (x.shape[1] != 3) return x.alias();
        using var scope = torch.NewDisposeScope();
        var coin = SeededDraws.Rand([x.shape[0]], 0, x.dtype, x.device, g);                      // [N]
        var gray = Gray(x).expand(-1, 3, -1, -1);                                                   // [N, 3, H, W]
        return Maybe(x, gray, p, coin).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Gaussian blur with probability <paramref name="p"/>, σ ~ U[σmin, σmax] per sample, an odd kernel of about
    /// a tenth of the image side (SimCLR), separable, reflect padding.
    /// </summary>
    public static Tensor RandomGaussianBlur(Tensor x, torch.Generator? g, double p, double sigmaMin = 0.1, double sigmaMax = 2.0)
    {
        CheckImages(x);
        if (sigmaMin <= 0 || sigmaMin > sigmaMax)
            throw new ArgumentOutOfRangeException(nameof(sigmaMin), sigmaMin, "σ range must satisfy 0 < sigmaMin ≤ sigmaMax");
        using var scope = torch.NewDisposeScope();
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        int k = Math.Max(3, (int)(0.1 * Math.Min(h, w)) | 1), r = k / 2;
        var u = SeededDraws.Rand([2, n], 1, x.dtype, x.device, g);                                // [2, N]
        var sigma = (u[0] * (sigmaMax - sigmaMin) + sigmaMin).view(n, 1);                           // [N, 1]
        var offsets = torch.arange(-r, r + 1, 1, x.dtype, x.device).view(1, k);                     // [1, k]
        var kernel = (offsets * offsets / (sigma * sigma * -2.0)).exp();                            // [N, k]
        kernel = kernel / kernel.sum(1, keepdim: true);
        var perChannel = kernel.unsqueeze(1).expand(n, c, k).reshape(n * c, 1, k);                  // [N·C, 1, k]
        var padded = ReflectPad(x, r).reshape(1, n * c, h + 2 * r, w + 2 * r);                      // [1, N·C, H+2r, W+2r]
        var blurredW = nn.functional.conv2d(padded, perChannel.unsqueeze(2), groups: n * c);       // kernel [N·C, 1, 1, k]
        var blurred = nn.functional.conv2d(blurredW, perChannel.unsqueeze(3), groups: n * c);      // kernel [N·C, 1, k, 1]
        return Maybe(x, blurred.reshape(n, c, h, w), p, u[1]).MoveToOuterDisposeScope();
    }

    /// <summary>Reflect-pads the last two dims by <paramref name="r"/> (no edge repeat, as PyTorch's 'reflect').</summary>
    public static Tensor ReflectPad(Tensor x, int r)
    {
        static Tensor Index(long size, int r, Device d)
        {
            var idx = new long[size + 2 * r];
            for (long i = -r; i < size + r; i++)
            {
                long j = i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i;
                idx[i + r] = Math.Clamp(j, 0, size - 1);
            }
            return torch.tensor(idx, ScalarType.Int64, d);
        }
        using var rows = Index(x.shape[2], r, x.device);
        using var cols = Index(x.shape[3], r, x.device);
        using var tall = x.index_select(2, rows);
        return tall.index_select(3, cols);
    }

    private static void CheckImages(Tensor x)
    {
        if (x.Dimensions != 4) throw new ArgumentException($"expected images [N, C, H, W], got {Shapes.Of(x)}", nameof(x));
        if (!torch.is_floating_point(x)) throw new ArgumentException($"expected float images in [0, 1], got {x.dtype}", nameof(x));
    }
}
