using CanKit.Tensors;

namespace CanKit.Vision;

/// <summary>
/// Images ↔ sequences of flattened patches, in MAE's order: patch (h, w) row-major, and inside a patch the pixels
/// row-major with channels last — [N, C, H, W] ↔ [N, L, p·p·C].
/// </summary>
public static class Patches
{
    /// <summary>[N, C, H, W] → [N, L, p·p·C] with L = (H/p)·(W/p).</summary>
    public static Tensor Patchify(Tensor images, int patchSize)
    {
        long[] s = images.shape;
        if (s.Length != 4) throw new ArgumentException($"Patchify expects [N, C, H, W], got {Shapes.Of(s)}", nameof(images));
        if (patchSize <= 0) throw new ArgumentOutOfRangeException(nameof(patchSize), patchSize, "must be > 0");
        if (s[2] % patchSize != 0 || s[3] % patchSize != 0)
            throw new ArgumentException($"image {s[2]}×{s[3]} is not divisible into {patchSize}-pixel patches", nameof(patchSize));
        long n = s[0], c = s[1], h = s[2] / patchSize, w = s[3] / patchSize;
        using var x = images.reshape(n, c, h, patchSize, w, patchSize);   // [N, C, h, p, w, p]
        using var y = x.permute(0, 2, 4, 3, 5, 1);                          // [N, h, w, p, p, C]
        return y.reshape(n, h * w, (long)patchSize * patchSize * c);        // [N, L, p·p·C]
    }

    /// <summary>[N, L, p·p·C] → [N, C, H, W] for a square grid.</summary>
    public static Tensor Unpatchify(Tensor patches, int patchSize, int channels)
    {
        long[] s = patches.shape;
        if (s.Length != 3) throw new ArgumentException($"Unpatchify expects [N, L, p·p·C], got {Shapes.Of(s)}", nameof(patches));
        long n = s[0], g = (long)Math.Round(Math.Sqrt(s[1]));
        if (g * g != s[1]) throw new ArgumentException($"{s[1]} patches do not form a square grid", nameof(patches));
        if (s[2] != (long)patchSize * patchSize * channels)
            throw new ArgumentException($"patch dim {s[2]} ≠ {patchSize}·{patchSize}·{channels}", nameof(patches));
        using var x = patches.reshape(n, g, g, patchSize, patchSize, channels);  // [N, h, w, p, p, C]
        using var y = x.permute(0, 5, 1, 3, 2, 4);                                 // [N, C, h, p, w, p]
        return y.reshape(n, channels, g * patchSize, g * patchSize);              // [N, C, H, W]
    }
}
