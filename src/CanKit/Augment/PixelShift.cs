namespace CanKit.Augment;

/// <summary>Which frame CMAE's pixel shift is measured in (see <see cref="Geometric.PixelShiftPair"/>).</summary>
public enum ShiftFrame
{
    /// <summary>Windows of the crop, offsets a share of the crop's side; both views stay inside the crop (official code).</summary>
    Crop,
    /// <summary>The whole crop moved by a share of the image's side, unclamped (an ablation).</summary>
    Image,
}

/// <summary>
/// CMAE's pixel shift between its two views, in the official code's pixels: a crop resized to <c>CropPixels</c>,
/// views of <c>WindowPixels</c>, target offset in {0, …, <c>MaxPixels</c>}² (official: 256, 224, 31). Only the ratios
/// matter here: views are resampled to the model's image size.
/// </summary>
public sealed record PixelShift
{
    private readonly int _max = 31, _crop = 256, _window = 224;

    /// <summary>Largest offset in crop pixels (official: 31). 0: both views are the same window.</summary>
    public int MaxPixels { get => _max; init => _max = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(MaxPixels), value, "must be ≥ 0"); }

    /// <summary>Side of the resized crop (official: 256).</summary>
    public int CropPixels { get => _crop; init => _crop = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(CropPixels), value, "must be > 0"); }

    /// <summary>Side of each view's window (official: 224).</summary>
    public int WindowPixels
    {
        get => _window;
        init => _window = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(WindowPixels), value, "must be > 0");
    }

    /// <summary>Crop: windows of the crop (official). Image: the crop moved by a share of the image (ablation).</summary>
    public ShiftFrame Frame { get; init; } = ShiftFrame.Crop;

    /// <summary>The official code's shift: 0–31 px windows of 224 inside a 256-px crop.</summary>
    public static PixelShift OfficialCode => new();

    public PixelShift Validate() =>
        Frame == ShiftFrame.Crop && WindowPixels + MaxPixels > CropPixels
            ? throw new ArgumentOutOfRangeException(nameof(MaxPixels), MaxPixels,
                                                    "WindowPixels + MaxPixels must be ≤ CropPixels " +
                                                    $"({WindowPixels} + {MaxPixels} > {CropPixels}): " +
                                                    "the target window would leave the crop")
            : this;
}
