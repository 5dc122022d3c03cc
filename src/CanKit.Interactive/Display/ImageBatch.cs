using CanKit.Data;

namespace CanKit.Display;

/// <summary>
/// A batch of images to look at: [N, C, H, W] (or one [C, H, W]), float in [0, 1] or uint8, tiled into one PNG grid
/// (<see cref="ImageGrid.Tile"/>). In a notebook <c>new ImageBatch(x)</c> at the end of a cell shows the grid
/// (<see cref="NotebookFormatters"/>). The batch is copied to the CPU as bytes when made, so the tensor may be freed.
/// </summary>
public sealed class ImageBatch
{
    public ImageBatch(Tensor images, int? columns = null, string? caption = null, int scale = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        using var grid = ImageGrid.Tile(images, columns);
        Shape = images.shape;
        Caption = caption;
        Scale = scale;
        Png = ImageCodec.EncodePng(grid);
        Width = (int)grid.shape[2];
        Height = (int)grid.shape[1];
    }

    private ImageBatch(byte[] png, int width, int height, string? caption, int scale)
    {
        (Png, Width, Height, Caption, Scale, Shape) = (png, width, height, caption, scale, [1, 0, height, width]);
    }

    /// <summary>A PNG file as it is (for example a reconstruction grid a run saved).</summary>
    public static ImageBatch FromPng(string path, string? caption = null, int scale = 2)
    {
        byte[] png = File.ReadAllBytes(path);
        using var image = ImageCodec.Decode(png, path);                                 // [C, H, W]: checks the file
        return new ImageBatch(png, (int)image.shape[2], (int)image.shape[1], caption ?? Path.GetFileName(path), scale);
    }

    /// <summary>The grid as PNG bytes.</summary>
    public byte[] Png { get; }
    public int Width { get; }
    public int Height { get; }
    public string? Caption { get; }
    /// <summary>How many screen pixels per image pixel the grid is drawn with (pixelated, not smoothed).</summary>
    public int Scale { get; }
    /// <summary>The shape of the batch the grid was made from.</summary>
    public long[] Shape { get; }

    public string DataUri => "data:image/png;base64," + Convert.ToBase64String(Png);

    public override string ToString() => $"ImageBatch [{string.Join(", ", Shape)}] as a {Width}×{Height} PNG grid{(Caption is null ? "" : ": " + Caption)}";
}
