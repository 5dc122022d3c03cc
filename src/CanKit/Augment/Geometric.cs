using CanKit.Sampling;
using CanKit.Tensors;

namespace CanKit.Augment;

/// <summary>
/// Per-sample crop boxes as affine maps, drawn on the device from a seeded generator. Coordinates are in
/// grid units ([−1, 1] spans the image): a box has centre (cx, cy) and half-extent (w, h) as fractions of the
/// image; a negative w flips horizontally. Each tensor is [N].
/// </summary>
public sealed record CropBoxes(Tensor Cx, Tensor Cy, Tensor W, Tensor H) : IDisposable
{
    public void Dispose()
    {
        Cx.Dispose();
        Cy.Dispose();
        W.Dispose();
        H.Dispose();
    }
}

public static class Geometric
{
    /// <summary>
    /// RandomResizedCrop boxes: area share s ~ U[scale], aspect ratio log-uniform in [ratio], centre uniform among
    /// positions that keep the box inside the image; flipped with probability <paramref name="flipP"/>.
    /// (torchvision re-draws boxes that do not fit; here the sides are clamped to the image instead.)
    /// </summary>
    public static CropBoxes RandomResizedCrop(long n, torch.Generator? g, Device device,
                                              (double Min, double Max) scale, (double Min, double Max) ratio, double flipP)
    {
        if (scale.Min <= 0 || scale.Max > 1 || scale.Min > scale.Max)
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must satisfy 0 < min ≤ max ≤ 1");
        if (ratio.Min <= 0 || ratio.Min > ratio.Max) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "ratio must satisfy 0 < min ≤ max");
        using var scope = torch.NewDisposeScope();
        var u = SeededDraws.Rand([5, n], 1, ScalarType.Float32, device, g);                 // [5, N]
        var area = u[0] * (scale.Max - scale.Min) + scale.Min;                                 // [N]
        var logR = u[1] * (Math.Log(ratio.Max) - Math.Log(ratio.Min)) + Math.Log(ratio.Min);
        var r = logR.exp();
        var w = (area * r).sqrt().clamp_max(1);                                                // width share
        var h = (area / r).sqrt().clamp_max(1);                                                // height share
        var cx = (u[2] * 2 - 1) * (1.0 - w);                                                   // keeps the box inside
        var cy = (u[3] * 2 - 1) * (1.0 - h);
        var sign = torch.where(u[4].lt(flipP), torch.full([1], -1, ScalarType.Float32, device), torch.full([1], 1, ScalarType.Float32, device));
        var boxes = new CropBoxes(cx, cy, w * sign, h);
        scope.MoveToOuter(boxes.Cx, boxes.Cy, boxes.W, boxes.H);
        return boxes;
    }

    /// <summary>
    /// CMAE's pixel shift as the official code makes it (CMAEDataset + ShiftPixel): the crop is resized to
    /// <see cref="PixelShift.CropPixels"/> (256) and each view is a <see cref="PixelShift.WindowPixels"/> (224) window of
    /// it, the online view at offset (0, 0), the target view at (dy, dx) with dy, dx each uniform in {0, …, MaxPixels}
    /// (<c>random.randint(0, 31)</c>), so both views stay inside the crop and the shift scales with the crop. Flipped boxes
    /// (negative W) are shifted in the flipped crop's coordinates, as the official code flips before it shifts.
    /// With <see cref="ShiftFrame.Image"/> instead, the online view is the whole crop and the target the same box moved by
    /// up to MaxPixels/CropPixels of the <i>image</i> side, unclamped, so it may leave the crop and the image (the
    /// ablation <c>cmae-shift-of-image</c>).
    /// Returns (online, target) boxes [N].
    /// </summary>
    public static (CropBoxes Online, CropBoxes Target) PixelShiftPair(CropBoxes crop, PixelShift shift, torch.Generator? g)
    {
        if (shift.Frame == ShiftFrame.Image)
            return (new CropBoxes(crop.Cx.clone(), crop.Cy.clone(), crop.W.clone(), crop.H.clone()),
                    Shift(crop, (double)shift.MaxPixels / shift.CropPixels, g));
        using var scope = torch.NewDisposeScope();
        long n = crop.Cx.shape[0];
        var u = SeededDraws.Rand([2, n], 1, crop.Cx.dtype, crop.Cx.device, g);                  // [2, N]
        var dy = (u[0] * (shift.MaxPixels + 1)).floor_().clamp_max_(shift.MaxPixels);           // [N] in {0, …, Max}
        var dx = (u[1] * (shift.MaxPixels + 1)).floor_().clamp_max_(shift.MaxPixels);
        var zero = torch.zeros([n], crop.Cx.dtype, crop.Cx.device);
        double size = (double)shift.WindowPixels / shift.CropPixels;
        var online = Window(crop, zero, zero, size);
        var target = Window(crop, dx / shift.CropPixels, dy / shift.CropPixels, size);
        scope.MoveToOuter(online.Cx, online.Cy, online.W, online.H, target.Cx, target.Cy, target.W, target.H);
        return (online, target);
    }

    /// <summary>
    /// The sub-box of each box whose top-left corner lies <paramref name="offsetX"/>, <paramref name="offsetY"/> [N]
    /// (fractions of the box side, from the box's own top-left, in its possibly flipped frame) into it and whose sides
    /// are <paramref name="size"/> of the box's: x_image = cx + w·x_box, the window spans x_box ∈ [−1 + 2·off, −1 + 2·off + 2·size].
    /// </summary>
    public static CropBoxes Window(CropBoxes b, Tensor offsetX, Tensor offsetY, double size)
    {
        if (size is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(size), size, "must be in (0, 1]");
        using var scope = torch.NewDisposeScope();
        var cx = b.Cx + b.W * (offsetX * 2 + (size - 1));
        var cy = b.Cy + b.H * (offsetY * 2 + (size - 1));
        var w = new CropBoxes(cx, cy, b.W * size, b.H * size);
        scope.MoveToOuter(w.Cx, w.Cy, w.W, w.H);
        return w;
    }

    /// <summary>
    /// The same boxes moved by up to <paramref name="maxShift"/> of the <i>image</i> side in x and y, drawn uniformly per
    /// sample, unclamped (boxes may leave the image; <see cref="Crop"/> then repeats border pixels). This is not the
    /// official CMAE shift (see <see cref="PixelShiftPair"/>); it remains as the ablation's "shift of the image".
    /// </summary>
    public static CropBoxes Shift(CropBoxes b, double maxShift, torch.Generator? g)
    {
        if (maxShift < 0 || maxShift > 1) throw new ArgumentOutOfRangeException(nameof(maxShift), maxShift, "must be in [0, 1]");
        using var scope = torch.NewDisposeScope();
        long n = b.Cx.shape[0];
        var u = SeededDraws.Rand([2, n], 1, b.Cx.dtype, b.Cx.device, g);                  // [2, N]
        // A shift of s image widths is 2s in grid units.
        var cx = b.Cx + u[0] * (2 * maxShift);
        var cy = b.Cy + u[1] * (2 * maxShift);
        var shifted = new CropBoxes(cx, cy, b.W.clone(), b.H.clone());
        scope.MoveToOuter(shifted.Cx, shifted.Cy, shifted.W, shifted.H);
        return shifted;
    }

    /// <summary>Resamples images [N, C, H, W] inside the boxes to [N, C, outSize, outSize] (bilinear, border padding).</summary>
    public static Tensor Crop(Tensor images, CropBoxes b, int outSize)
    {
        if (images.Dimensions != 4) throw new ArgumentException($"expected images [N, C, H, W], got {Shapes.Of(images)}", nameof(images));
        ArgumentOutOfRangeException.ThrowIfLessThan(outSize, 1);
        using var scope = torch.NewDisposeScope();
        long n = images.shape[0], c = images.shape[1];
        if (b.Cx.shape[0] != n) throw new ArgumentException($"{b.Cx.shape[0]} boxes for {n} images", nameof(b));
        // θ maps output grid coordinates to input ones: x_in = w·x_out + cx, y_in = h·y_out + cy.
        var zero = torch.zeros([n], images.dtype, images.device);
        var row0 = torch.stack([b.W.to(images.dtype), zero, b.Cx.to(images.dtype)], 1);         // [N, 3]
        var row1 = torch.stack([zero, b.H.to(images.dtype), b.Cy.to(images.dtype)], 1);         // [N, 3]
        var theta = torch.stack([row0, row1], 1);                                                 // [N, 2, 3]
        var grid = nn.functional.affine_grid(theta, [n, c, outSize, outSize], align_corners: false); // [N, out, out, 2]
        var result = nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
        return result.MoveToOuterDisposeScope();
    }
}
