using CanKit.Tensors;

namespace CanKit.Display;

/// <summary>
/// Labelled rows of images for pictures whose rows mean different things (originals · masked input · reconstruction):
/// each row a batch [N, C, H, W] (float in [0, 1] or uint8) tiled left to right into one <see cref="ImageBatch"/> strip,
/// its label beside it. In a notebook <c>new ImageRows(3, ("originals", x), ("masked", y))</c> at the end of a cell
/// shows a small table (<see cref="NotebookFormatters"/>).
/// </summary>
public sealed class ImageRows
{
    public ImageRows(int scale, params (string Label, Tensor Images)[] rows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        if (rows.Length == 0) throw new ArgumentException("ImageRows needs at least one row", nameof(rows));
        Rows = rows.Select(r =>
        {
            if (r.Images.dim() != 4)
                throw new ArgumentException($"row '{r.Label}': expected images [N, C, H, W], " +
                                            $"got {Shapes.Of(r.Images)}", nameof(rows));
            return (r.Label, new ImageBatch(r.Images, columns: (int)r.Images.size(0), caption: r.Label, scale: scale));
        }).ToList();
    }

    /// <summary>Each row's label and its strip of images.</summary>
    public IReadOnlyList<(string Label, ImageBatch Strip)> Rows { get; }

    public override string ToString() => $"ImageRows: {string.Join(" · ", Rows.Select(r => $"{r.Label} [{string.Join(", ", r.Strip.Shape)}]"))}";
}
