using CanKit.Nn;

namespace CanKit.Augment;

/// <summary>
/// Per-sample crop boxes as affine maps, drawn on the device from a seeded generator. Coordinates are in
/// grid units ([−1, 1] spans the image): a box has centre (cx, cy) and half-extent (w, h) as fractions of the
/// image; a negative w flips horizontally.
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
    public static CropBoxes RandomResizedCrop(long n, Generator? g, Device device, (double Min, double Max) scale, (double Min, double Max) ratio, double flipP)
    {
        if (scale.Min <= 0 || scale.Max > 1 || scale.Min > scale.Max) throw new ArgumentOutOfRangeException(nameof(scale), scale, "scale must satisfy 0 < min ≤ max ≤ 1");
        if (ratio.Min <= 0 || ratio.Min > ratio.Max) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "ratio must satisfy 0 < min ≤ max");
        using var scope = Torch.NewDisposeScope();
        var u = Tensor.Rand([5, n], g, DType.Float32, device);                                 // [5, N]
        var area = u.Select(0, 0) * (scale.Max - scale.Min) + scale.Min;                      // [N]
        var logR = u.Select(0, 1) * (Math.Log(ratio.Max) - Math.Log(ratio.Min)) + Math.Log(ratio.Min);
        var r = logR.Exp();
        var w = (area * r).Sqrt().ClampMax(1);                                                // width share
        var h = (area / r).Sqrt().ClampMax(1);                                                // height share
        var cx = (u.Select(0, 2) * 2 - 1) * (1.0 - w);                                        // keeps the box inside
        var cy = (u.Select(0, 3) * 2 - 1) * (1.0 - h);
        var sign = Tensor.Where(u.Select(0, 4).Lt(flipP), Tensor.Full([1], -1, DType.Float32, device), Tensor.Full([1], 1, DType.Float32, device));
        var boxes = new CropBoxes(cx, cy, w * sign, h);
        scope.MoveToOuter(boxes.Cx, boxes.Cy, boxes.W, boxes.H);
        return boxes;
    }

    /// <summary>
    /// The same boxes moved by up to <paramref name="maxShift"/> of the image side in x and y (CMAE's pixel shift:
    /// official 0–31 px on a 256-px image, i.e. 31/256), drawn uniformly per sample.
    /// </summary>
    public static CropBoxes Shift(CropBoxes b, double maxShift, Generator? g)
    {
        if (maxShift < 0 || maxShift > 1) throw new ArgumentOutOfRangeException(nameof(maxShift), maxShift, "must be in [0, 1]");
        using var scope = Torch.NewDisposeScope();
        long n = b.Cx.Size(0);
        var u = Tensor.Rand([2, n], g, DType.Float32, b.Cx.Device);
        // A shift of s image widths is 2s in grid units.
        var cx = b.Cx + u.Select(0, 0) * (2 * maxShift);
        var cy = b.Cy + u.Select(0, 1) * (2 * maxShift);
        var shifted = new CropBoxes(cx, cy, b.W.Clone(), b.H.Clone());
        scope.MoveToOuter(shifted.Cx, shifted.Cy, shifted.W, shifted.H);
        return shifted;
    }

    /// <summary>Resamples images [N, C, H, W] inside the boxes to [N, C, outSize, outSize] (bilinear, border padding).</summary>
    public static Tensor Crop(Tensor images, CropBoxes b, int outSize)
    {
        using var scope = Torch.NewDisposeScope();
        long n = images.Size(0), c = images.Size(1);
        var zero = Tensor.Zeros([n], images.DType, images.Device);
        var row0 = Tensor.Stack([b.W, zero, b.Cx], 1);                                         // [N, 3]
        var row1 = Tensor.Stack([zero, b.H, b.Cy], 1);                                         // [N, 3]
        var theta = Tensor.Stack([row0, row1], 1);                                             // [N, 2, 3]
        var grid = Functional.AffineGrid(theta, [n, c, outSize, outSize]);                     // [N, out, out, 2]
        var result = Functional.GridSample(images, grid, Functional.GridSampleMode.Bilinear, Functional.GridPadding.Border);
        scope.MoveToOuter(result);
        return result;
    }
}
