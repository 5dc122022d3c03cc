using CanKit.Sampling;
using CanKit.Tensors;

namespace CanKit.Objectives;

/// <summary>
/// CAN's noise (§3.3): per sample σ ~ U[0, σmax], image + σ·e with e ~ N(0, I), in normalised-pixel units
/// (the same units as the network input). The denoising target is σ·e itself.
/// </summary>
public sealed record NoisedImages(Tensor Noisy, Tensor Noise, Tensor Sigma) : IDisposable
{
    public void Dispose()
    {
        Noisy.Dispose();
        Noise.Dispose();
        Sigma.Dispose();
    }
}

public static class GaussianNoise
{
    /// <summary>
    /// Adds σ·e to <paramref name="images"/> [N, C, H, W]. <paramref name="sigma"/> [N] and <paramref name="eps"/>
    /// [N, C, H, W] may be given (tests, notebooks); otherwise σ ~ U[0, σmax] and e ~ N(0, I) from the generator.
    /// Returns the noisy images, the added noise σ·e [N, C, H, W] and σ [N], in the images' dtype and device.
    /// </summary>
    public static NoisedImages Apply(Tensor images, double sigmaMax, Generator? generator = null, Tensor? sigma = null, Tensor? eps = null)
    {
        if (sigmaMax < 0 || double.IsNaN(sigmaMax)) throw new ArgumentOutOfRangeException(nameof(sigmaMax), sigmaMax, "σmax must be ≥ 0");
        long[] s = images.shape;
        if (s.Length != 4) throw new ArgumentException($"noise expects images [N, C, H, W], got {Shapes.Of(s)}", nameof(images));
        long n = s[0];
        if (sigma is not null && (sigma.dim() != 1 || sigma.size(0) != n))
            throw new ArgumentException($"sigma must be [N] = [{n}], got {Shapes.Of(sigma)}", nameof(sigma));
        if (eps is not null && !eps.shape.SequenceEqual(s))
            throw new ArgumentException($"eps must be {Shapes.Of(s)}, got {Shapes.Of(eps)}", nameof(eps));
        Tensor sig;
        if (sigma is not null) sig = sigma.to(images.dtype, images.device);
        else
        {
            using var u = SeededDraws.Rand([n], 0, images.dtype, images.device, generator);      // [N]
            sig = u * sigmaMax;
        }
        using var e = eps?.to(images.dtype, images.device) ?? SeededDraws.Randn(s, 0, images.dtype, images.device, generator);   // [N, C, H, W]
        using var sig4 = sig.view(n, 1, 1, 1);                                                      // [N, 1, 1, 1]
        var noise = e * sig4;
        return new NoisedImages(images + noise, noise, sig);
    }
}
