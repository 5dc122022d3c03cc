using CanKit.Tensors;

namespace CanKit.Data;

/// <summary>
/// Tiles a batch of images into one picture (row-major, image i at row i / cols, column i % cols) with
/// <c>padding</c> pixels between and around the tiles, and saves it as PNG: the originals / masked /
/// reconstructed / denoised grids. Input is [N, C, H, W] (or one [C, H, W]) with C = 1 or 3, either float in
/// [0, 1] (clamped; denormalise first with <see cref="ImageSet.Denormalize"/>) or uint8, on any device.
/// </summary>
public static class ImageGrid
{
    /// <summary>The grid as a uint8 tensor [C, rows·(H+p)+p, cols·(W+p)+p] on the CPU.</summary>
    /// <param name="images">[N, C, H, W] or [C, H, W], float in [0, 1] or uint8.</param>
    /// <param name="cols">tiles per row; default ⌈√N⌉ (or ⌈N / rows⌉ when <paramref name="rows"/> is given).</param>
    /// <param name="rows">rows of tiles; default ⌈N / cols⌉. Must hold all N images.</param>
    /// <param name="padding">pixels between tiles and around the grid (p).</param>
    /// <param name="padValue">the colour of the padding (255 white, 0 black).</param>
    public static Tensor Tile(Tensor images, int? cols = null, int? rows = null, int padding = 2, byte padValue = 255)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(padding);
        if (images.Dimensions is not (3 or 4))
            throw new ArgumentException($"expected images [N, C, H, W] or [C, H, W], got {Shapes.Of(images)}", nameof(images));
        using var batch = images.Dimensions == 3 ? images.unsqueeze(0) : images.alias();         // [N, C, H, W]
        int n = (int)batch.shape[0], c = (int)batch.shape[1], h = (int)batch.shape[2], w = (int)batch.shape[3];
        if (n == 0) throw new ArgumentException("no images to tile", nameof(images));
        if (c != 1 && c != 3) throw new ArgumentException($"expected 1 or 3 channels, got {c}", nameof(images));
        int nc = cols ?? (rows is int r0 ? (n + r0 - 1) / r0 : (int)Math.Ceiling(Math.Sqrt(n)));
        int nr = rows ?? (n + nc - 1) / nc;
        if (nc < 1 || nr < 1) throw new ArgumentOutOfRangeException(nameof(cols), "rows and cols must be ≥ 1");
        if ((long)nr * nc < n) throw new ArgumentException($"a {nr}×{nc} grid cannot hold {n} images", nameof(rows));

        byte[] px = ToBytes(batch);                                                               // [N, C, H, W] row-major
        int gh = nr * (h + padding) + padding, gw = nc * (w + padding) + padding;
        var grid = new byte[(long)c * gh * gw];                                                   // [C, gh, gw]
        Array.Fill(grid, padValue);
        for (int i = 0; i < n; i++)
        {
            int top = padding + i / nc * (h + padding), left = padding + i % nc * (w + padding);
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    px.AsSpan(((i * c + ch) * h + y) * w, w).CopyTo(grid.AsSpan((ch * gh + top + y) * gw + left, w));
        }
        return torch.tensor(grid, [c, gh, gw], ScalarType.Byte);
    }

    /// <summary>Tiles <paramref name="images"/> (see <see cref="Tile"/>) and writes the grid to a PNG file.</summary>
    public static void SavePng(string path, Tensor images, int? cols = null, int? rows = null, int padding = 2, byte padValue = 255)
    {
        using var grid = Tile(images, cols, rows, padding, padValue);
        ImageCodec.SavePng(path, grid);
    }

    // Any dtype/device → uint8 CPU bytes; floats are taken as [0, 1] and rounded half to even, as torch.round.
    private static byte[] ToBytes(Tensor batch)
    {
        using var scope = torch.NewDisposeScope();
        Tensor bytes = batch.dtype == ScalarType.Byte
            ? batch.cpu()
            : batch.detach().to(ScalarType.Float32, torch.CPU).clamp(0, 1).mul(255.0).round().to(ScalarType.Byte);
        return bytes.contiguous().data<byte>().ToArray();
    }
}
