using CanKit.Nn;

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
        using var w = Tensor.From(Luma, 1, 3, 1, 1).To(x.Device);
        using var weighted = x * w;
        return weighted.Sum(1, keepDim: true);                                                     // [N, 1, H, W]
    }

    private static Tensor PerSample(Tensor u, long n) => u.View(n, 1, 1, 1);

    /// <summary>x where the coin says no, f(x) where it says yes (probability p per sample).</summary>
    private static Tensor Maybe(Tensor x, Tensor transformed, double p, Tensor coin)
    {
        using var apply = coin.Lt(p).View(x.Size(0), 1, 1, 1);
        return Tensor.Where(apply, transformed, x);
    }

    /// <summary>
    /// SimCLR's colour jitter with probability <paramref name="p"/>: brightness, contrast, saturation factors
    /// drawn from [1 − s, 1 + s], hue shift from [−hue, hue] of a full turn, applied in that fixed order, clamped
    /// to [0, 1] after each. Hue is rotated in YIQ space, a linear approximation of torchvision's HSV shift.
    /// Grayscale images get brightness and contrast only.
    /// </summary>
    public static Tensor ColorJitter(Tensor x, Generator? g, double brightness, double contrast, double saturation, double hue, double p)
    {
        using var scope = Torch.NewDisposeScope();
        long n = x.Size(0), c = x.Size(1);
        var u = Tensor.Rand([5, n], g, DType.Float32, x.Device);
        Tensor Factor(int i, double s) => PerSample(u.Select(0, i) * (2 * s) + (1 - s), n);
        var y = (x * Factor(0, brightness)).Clamp(0, 1);
        var mean = (c == 3 ? Gray(y) : y).Mean([1, 2, 3], keepDim: true);                          // [N, 1, 1, 1]
        y = ((y - mean) * Factor(1, contrast) + mean).Clamp(0, 1);
        if (c == 3)
        {
            var gray = Gray(y);
            y = ((y - gray) * Factor(2, saturation) + gray).Clamp(0, 1);
            y = HueRotate(y, PerSample(u.Select(0, 3) * (2 * hue) - hue, n)).Clamp(0, 1);
        }
        var result = Maybe(x, y, p, u.Select(0, 4));
        scope.MoveToOuter(result);
        return result;
    }

    /// <summary>Rotates chroma by 2π·turns [N, 1, 1, 1] around the luma axis (YIQ).</summary>
    private static Tensor HueRotate(Tensor x, Tensor turns)
    {
        using var scope = Torch.NewDisposeScope();
        long n = x.Size(0), h = x.Size(2), w = x.Size(3);
        var toYiq = Tensor.From(new float[] { 0.299f, 0.587f, 0.114f, 0.596f, -0.274f, -0.322f, 0.211f, -0.523f, 0.312f }, 3, 3).To(x.Device);
        var fromYiq = Tensor.From(new float[] { 1f, 0.956f, 0.621f, 1f, -0.272f, -0.647f, 1f, -1.106f, 1.703f }, 3, 3).To(x.Device);
        var angle = turns.View(n) * (2 * Math.PI);
        var cos = angle.Cos();
        var sin = angle.Sin();
        var one = Tensor.Ones([n], x.DType, x.Device);
        var zero = Tensor.Zeros([n], x.DType, x.Device);
        var rot = Tensor.Stack([
            Tensor.Stack([one, zero, zero], 1),
            Tensor.Stack([zero, cos, -sin], 1),
            Tensor.Stack([zero, sin, cos], 1)], 1);                                                 // [N, 3, 3]
        var m = fromYiq.MatMul(rot).MatMul(toYiq);                                                  // [N, 3, 3]
        var flat = x.Reshape(n, 3, h * w);                                                          // [N, 3, HW]
        var result = m.Bmm(flat).Reshape(n, 3, h, w);
        scope.MoveToOuter(result);
        return result;
    }

    /// <summary>Grayscale (luma replicated over channels) with probability <paramref name="p"/>.</summary>
    public static Tensor RandomGrayscale(Tensor x, Generator? g, double p)
    {
        if (x.Size(1) != 3) return x.Alias();
        using var scope = Torch.NewDisposeScope();
        var coin = Tensor.Rand([x.Size(0)], g, DType.Float32, x.Device);
        var gray = Gray(x).Expand(-1, 3, -1, -1);
        var result = Maybe(x, gray, p, coin);
        scope.MoveToOuter(result);
        return result;
    }

    /// <summary>
    /// Gaussian blur with probability <paramref name="p"/>, σ ~ U[σmin, σmax] per sample, an odd kernel of about
    /// a tenth of the image side (SimCLR), separable, reflect padding.
    /// </summary>
    public static Tensor RandomGaussianBlur(Tensor x, Generator? g, double p, double sigmaMin = 0.1, double sigmaMax = 2.0)
    {
        using var scope = Torch.NewDisposeScope();
        long n = x.Size(0), c = x.Size(1), h = x.Size(2), w = x.Size(3);
        int k = Math.Max(3, (int)(0.1 * Math.Min(h, w)) | 1), r = k / 2;
        var u = Tensor.Rand([2, n], g, DType.Float32, x.Device);
        var sigma = (u.Select(0, 0) * (sigmaMax - sigmaMin) + sigmaMin).View(n, 1);                 // [N, 1]
        var offsets = Tensor.Arange(-r, r + 1, 1, DType.Float32, x.Device).View(1, k);              // [1, k]
        var kernel = (offsets * offsets / (sigma * sigma * -2.0)).Exp();                            // [N, k]
        kernel = kernel / kernel.Sum(1, keepDim: true);
        var perChannel = kernel.Unsqueeze(1).Expand(n, c, k).Reshape(n * c, 1, k);                  // [N·C, 1, k]
        var padded = ReflectPad(x, r).Reshape(1, n * c, h + 2 * r, w + 2 * r);                      // [1, N·C, H+2r, W+2r]
        var blurredW = Functional.Conv2d(padded, perChannel.Unsqueeze(2), groups: n * c);          // kernel [N·C, 1, 1, k]
        var blurred = Functional.Conv2d(blurredW, perChannel.Unsqueeze(3), groups: n * c);         // kernel [N·C, 1, k, 1]
        var result = Maybe(x, blurred.Reshape(n, c, h, w), p, u.Select(0, 1));
        scope.MoveToOuter(result);
        return result;
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
            using var t = Tensor.From(idx);
            return t.To(d);
        }
        using var rows = Index(x.Size(2), r, x.Device);
        using var cols = Index(x.Size(3), r, x.Device);
        using var tall = x.IndexSelect(2, rows);
        return tall.IndexSelect(3, cols);
    }
}
