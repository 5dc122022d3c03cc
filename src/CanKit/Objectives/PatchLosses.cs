using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Objectives;

/// <summary>Per-patch MSE losses of the decoder's pixel head, on the masked or the visible patches.</summary>
public static class PatchLosses
{
    /// <summary>
    /// Reconstruction (MAE): mean over masked patches of the per-patch MSE between <paramref name="prediction"/>
    /// [N, L, P] and the clean image's patches. With <paramref name="normPix"/> each target patch is standardised
    /// by its own mean and (unbiased) variance first, as MAE's norm_pix_loss.
    /// </summary>
    public static Tensor Reconstruction(Tensor prediction, Tensor images, Tensor mask, int patchSize, bool normPix)
    {
        using var target = Patches.Patchify(images, patchSize);                     // [N, L, P]
        if (!normPix) return MaskedMse(prediction, target, mask);
        using var mean = target.mean([-1], keepdim: true);                          // [N, L, 1]
        using var var = target.var(-1, unbiased: true, keepdim: true);              // [N, L, 1]
        using var centred = target - mean;
        using var varEps = var + 1e-6;
        using var std = varEps.sqrt();
        using var normed = centred / std;
        return MaskedMse(prediction, normed, mask);
    }

    /// <summary>
    /// Denoising (CAN): mean over visible patches of the per-patch MSE between <paramref name="prediction"/>
    /// [N, L, P] and the patches of the added noise σ·e [N, C, H, W].
    /// </summary>
    public static Tensor Denoise(Tensor prediction, Tensor noise, Tensor mask, int patchSize)
    {
        using var target = Patches.Patchify(noise, patchSize);                      // [N, L, P]
        using var visible = 1.0 - mask;                                             // [N, L], 1 = kept
        return MaskedMse(prediction, target, visible);
    }

    /// <summary>Σ(mean_P (pred − target)² · w) / max(Σw, 1) with weights w [N, L].</summary>
    public static Tensor MaskedMse(Tensor prediction, Tensor target, Tensor weights)
    {
        if (!prediction.shape.SequenceEqual(target.shape))
            throw new ArgumentException($"prediction {Shapes.Of(prediction)} " +
                                        $"and target {Shapes.Of(target)} differ", nameof(prediction));
        if (weights.dim() != 2 || weights.size(0) != prediction.size(0) || weights.size(1) != prediction.size(1))
            throw new ArgumentException($"weights must be [N, L] = [{prediction.size(0)}, {prediction.size(1)}], " +
                                        $"got {Shapes.Of(weights)}", nameof(weights));
        using var diff = prediction - target;
        using var sq = diff * diff;
        using var perPatch = sq.mean([-1]);                                         // [N, L]
        using var weighted = perPatch * weights;
        using var num = weighted.sum();
        using var total = weights.sum();
        using var den = total.clamp_min(1);
        return num / den;
    }
}
