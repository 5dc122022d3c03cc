using CanKit.Data;
using CanKit.Tensors;

namespace CanKit.Augment;

/// <summary>One view's augmentations (SimCLR's recipe by default), applied in this order: crop + flip, colour
/// jitter, grayscale, blur. Probabilities are per sample.</summary>
public sealed record ViewAugmentation
{
    /// <summary>Crop area share range. SimCLR 0.08–1; MAE/CAN use 0.2–1.</summary>
    public (double Min, double Max) Scale { get; init; } = (0.2, 1.0);
    public (double Min, double Max) Ratio { get; init; } = (3.0 / 4, 4.0 / 3);
    public double FlipP { get; init; } = 0.5;
    public double Brightness { get; init; } = 0.4;
    public double Contrast { get; init; } = 0.4;
    public double Saturation { get; init; } = 0.4;
    public double Hue { get; init; } = 0.1;
    /// <summary>Probability of colour jitter (SimCLR: 0.8).</summary>
    public double JitterP { get; init; } = 0.8;
    public double GrayscaleP { get; init; } = 0.2;
    public double BlurP { get; init; } = 0.5;

    /// <summary>SimCLR's full recipe (crop 0.2–1 as CAN uses).</summary>
    public static ViewAugmentation SimClr => new();

    /// <summary>Crop and flip only (MAE, CMAE's online view).</summary>
    public static ViewAugmentation CropFlip => new() { JitterP = 0, GrayscaleP = 0, BlurP = 0 };

    /// <summary>Colour, grayscale and blur on an already cropped view.</summary>
    internal Tensor Photometrics(Tensor x01, torch.Generator? g)
    {
        using var scope = torch.NewDisposeScope();
        var y = x01;
        if (JitterP > 0) y = Photometric.ColorJitter(y, g, Brightness, Contrast, Saturation, Hue, JitterP);
        if (GrayscaleP > 0) y = Photometric.RandomGrayscale(y, g, GrayscaleP);
        if (BlurP > 0) y = Photometric.RandomGaussianBlur(y, g, BlurP);
        var result = ReferenceEquals(y, x01) ? x01.alias() : y;
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// How a method's two views are made from one batch of images, on the training device, from one generator.
/// With a <see cref="Shift"/> (CMAE) both views come from one crop, as <see cref="Geometric.PixelShiftPair"/> places
/// them (<see cref="Second"/>'s crop settings are then unused); otherwise the two crops are independent.
/// </summary>
public sealed record TwoViewPipeline(ViewAugmentation First, ViewAugmentation Second, PixelShift? Shift = null)
{
    /// <summary>CAN and SimCLR: two independent SimCLR-style views.</summary>
    public static TwoViewPipeline Can => new(ViewAugmentation.SimClr, ViewAugmentation.SimClr);
    public static TwoViewPipeline SimClr => new(ViewAugmentation.SimClr, ViewAugmentation.SimClr);

    /// <summary>
    /// CMAE (official CMAEDataset): one crop (scale 0.2–1) + flip; the online view its top-left 224/256 window, the
    /// target view the window moved by 0–31 of 256 crop pixels, plus colour jitter, grayscale and blur.
    /// </summary>
    public static TwoViewPipeline Cmae => ForCmae(PixelShift.OfficialCode);

    /// <summary>CMAE's pipeline with the given shift.</summary>
    public static TwoViewPipeline ForCmae(PixelShift shift) =>
        new(ViewAugmentation.CropFlip, ViewAugmentation.SimClr with { Scale = (1, 1) }, shift.Validate());

    /// <summary>
    /// uint8 images [N, C, H, W] (on the training device) → two normalised float32 views [N, C, S, S]. Every random
    /// draw comes from <paramref name="g"/> in a fixed order, so the same seed gives the same views; the generator
    /// must live on the images' device (TorchSharp's rule), or be null for the global one.
    /// </summary>
    public (Tensor View1, Tensor View2) Apply(Tensor raw, Normalization norm, int outSize, torch.Generator? g)
    {
        if (raw.Dimensions != 4) throw new ArgumentException($"expected images [N, C, H, W], got {Shapes.Of(raw)}", nameof(raw));
        using var scope = torch.NewDisposeScope();
        long n = raw.shape[0];
        var x = raw.to(ScalarType.Float32) / 255.0;                                                 // [N, C, H, W] in [0, 1]
        var crop = Geometric.RandomResizedCrop(n, g, raw.device, First.Scale, First.Ratio, First.FlipP);
        var (box1, box2) = Shift is { } shift
            ? Geometric.PixelShiftPair(crop, shift, g)
            : (crop, Geometric.RandomResizedCrop(n, g, raw.device, Second.Scale, Second.Ratio, Second.FlipP));
        var v1 = First.Photometrics(Geometric.Crop(x, box1, outSize), g);
        var v2 = Second.Photometrics(Geometric.Crop(x, box2, outSize), g);
        var n1 = ImageSet.NormalizeUnit(v1, norm);
        var n2 = ImageSet.NormalizeUnit(v2, norm);
        scope.MoveToOuter(n1, n2);
        return (n1, n2);
    }
}
