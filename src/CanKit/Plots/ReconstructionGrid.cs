using CanKit.Data;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Plots;

/// <summary>
/// The picture of what a masked-image method does: four rows of the same images — the clean originals, the network
/// input (noisy, masked patches greyed out), the reconstruction (predicted masked patches pasted into the visible
/// ones) and the predicted noise on visible patches (rescaled to [0, 1]) — as one [4·n, C, H, W] batch in [0, 1].
/// </summary>
public static class ReconstructionGrid
{
    public static Tensor Build(Predictions p, int patchSize, Normalization norm, bool normPix, int count)
    {
        using var scope = NewDisposeScope();
        long n = Math.Min(count, p.Input.size(0)), c = p.Input.size(1);
        var input = p.Input.narrow(0, 0, n);                                        // [n, C, H, W] normalised, noisy
        var noise = p.Noise.narrow(0, 0, n);
        var clean = input - noise;
        var mask = p.Mask.narrow(0, 0, n).unsqueeze(-1);                             // [n, L, 1], 1 = removed
        var pred = p.Pixels.narrow(0, 0, n);                                         // [n, L, P]
        var cleanPatches = Patches.Patchify(clean, patchSize);                       // [n, L, P]
        if (normPix)
        {
            // Predictions of masked patches are standardised per patch: undo it with the true patch statistics.
            var mean = cleanPatches.mean([-1], keepdim: true);
            var std = (cleanPatches.var(-1, unbiased: true, keepdim: true) + 1e-6).sqrt();
            pred = pred * std + mean;
        }
        var inputPatches = Patches.Patchify(input, patchSize);
        var recon = Patches.Unpatchify(inputPatches * (1.0 - mask) + pred * mask, patchSize, (int)c);
        var masked = Patches.Unpatchify(inputPatches * (1.0 - mask), patchSize, (int)c);
        var noisePred = Patches.Unpatchify(p.Pixels.narrow(0, 0, n) * (1.0 - mask), patchSize, (int)c);
        var lo = noisePred.flatten(1).min(1).values.view(n, 1, 1, 1);
        var hi = noisePred.flatten(1).max(1).values.view(n, 1, 1, 1);
        var noiseImg = (noisePred - lo) / (hi - lo + 1e-12);
        var greyMask = Patches.Unpatchify(mask.expand(-1, -1, (long)patchSize * patchSize * c), patchSize, (int)c);
        var shownInput = ImageSet.Denormalize(masked, norm) * (1.0 - greyMask) + greyMask * 0.5;
        var rows = cat([ImageSet.Denormalize(clean, norm), shownInput, ImageSet.Denormalize(recon, norm), noiseImg.clamp(0, 1)], 0);   // [4n, C, H, W]
        return rows.MoveToOuterDisposeScope();
    }

    /// <summary>Saves <see cref="Build"/>'s rows as a PNG grid with one row per kind.</summary>
    public static void SavePng(string path, Predictions p, int patchSize, Normalization norm, bool normPix, int count = 8)
    {
        using var rows = Build(p, patchSize, norm, normPix, count);
        ImageGrid.SavePng(path, rows, cols: (int)(rows.size(0) / 4));
    }
}
