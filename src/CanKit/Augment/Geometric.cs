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
    public static CropBoxes RandomResizedCrop(long n, torch.Generator? g, Device device, (double Min, double Max) scale, (double Min, double Max) ratio, double flipP)
    {
        if (scale.Min <= 0 || scale.Max > 1 || scale.Min > scale.Max) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must satisfy 0 < min ≤ max ≤ 1");
        if (ratio.Min <= 0 || ratio.Min > ratio.Max) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "ratio must satisfy 0 < min ≤ max");
        using var scope = torch.NewDisposeScope();
        var u = torch.rand([5, n], ScalarType.Float32, device, generator: g);                 // [5, N]
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
    /// The same boxes moved by up to <paramref name="maxShift"/> of the image side in x and y (CMAE's pixel shift:
    /// official 0–31 px on a 256-px image, i.e. 31/256), drawn uniformly per sample.
    /// </summary>
    public static CropBoxes Shift(CropBoxes b, double maxShift, torch.Generator? g)
    {
        if (maxShift < 0 || maxShift > 1) throw new ArgumentOutOfRangeException(nameof(maxShift), maxShift, "must be in [0, 1]");
        using var scope = torch.NewDisposeScope();
        long n = b.Cx.shape[0];
        var u = torch.rand([2, n], b.Cx.dtype, b.Cx.device, generator: g);                  // [2, N]
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
        if (images.Dimensions != 4) throw new ArgumentException($"expected images [N, C, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
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
