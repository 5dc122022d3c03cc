namespace CanKit.Data;

/// <summary>Per-channel normalisation constants (pixel/255 − mean) / std.</summary>
public sealed record Normalization(float[] Mean, float[] Std)
{
    public static readonly Normalization FashionMnist = new([0.2860f], [0.3530f]);
    public static readonly Normalization Cifar10 = new([0.4914f, 0.4822f, 0.4465f], [0.2470f, 0.2435f, 0.2616f]);
    public static readonly Normalization Cifar100 = new([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]);
    public static readonly Normalization ImageNet = new([0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f]);
}

/// <summary>
/// A labelled set of images held in memory as uint8 pixels, channels first: image i occupies
/// <c>Pixels[i·C·H·W .. (i+1)·C·H·W)</c> in [C, H, W] order. Every dataset loader produces one.
/// </summary>
public sealed class ImageSet
{
    public string Name { get; }
    public byte[] Pixels { get; }
    public int[] Labels { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public Normalization Normalization { get; }

    public int Count => Labels.Length;
    public int ImageBytes => Channels * Height * Width;

    public ImageSet(string name, byte[] pixels, int[] labels, int channels, int height, int width, IReadOnlyList<string> classNames, Normalization normalization)
    {
        if ((long)labels.Length * channels * height * width != pixels.Length)
            throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not hold {labels.Length} images of {channels}×{height}×{width}");
        if (normalization.Mean.Length != channels || normalization.Std.Length != channels)
            throw new ArgumentException($"{name}: normalisation has {normalization.Mean.Length} channels, images have {channels}");
        // Every loader names the file of a bad label; this is the last line before a label reaches a loss or a vote.
        int bad = Array.FindIndex(labels, l => (uint)l >= (uint)classNames.Count);
        if (bad >= 0) throw new ArgumentException($"{name}: label {labels[bad]} of image {bad} is outside 0..{classNames.Count - 1}");
        (Name, Pixels, Labels, Channels, Height, Width, ClassNames, Normalization) = (name, pixels, labels, channels, height, width, classNames, normalization);
    }

    /// <summary>A subset (e.g. a quick-mode slice) sharing nothing with this set.</summary>
    public ImageSet Take(int count)
    {
        count = Math.Min(count, Count);
        return new ImageSet(Name, Pixels.AsSpan(0, count * ImageBytes).ToArray(), Labels.AsSpan(0, count).ToArray(), Channels, Height, Width, ClassNames, Normalization);
    }

    /// <summary>Raw pixels of the given samples as a uint8 tensor [n, C, H, W] (CPU), and labels [n] int64.</summary>
    public (Tensor Images, Tensor Labels) RawBatch(ReadOnlySpan<int> indices)
    {
        int b = ImageBytes;
        var x = new byte[indices.Length * b];
        var y = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int k = indices[i];
            if ((uint)k >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), k, $"{Name} has {Count} images");
            Pixels.AsSpan(k * b, b).CopyTo(x.AsSpan(i * b, b));
            y[i] = Labels[k];
        }
        return (torch.tensor(x, [indices.Length, Channels, Height, Width], ScalarType.Byte), torch.tensor(y, [indices.Length], ScalarType.Int64));
    }

    /// <summary>Normalised float32 images [n, C, H, W] and int64 labels [n] on <paramref name="device"/> (CPU when null).</summary>
    public (Tensor Images, Tensor Labels) Batch(ReadOnlySpan<int> indices, Device? device = null)
    {
        device ??= torch.CPU;
        var (raw, labels) = RawBatch(indices);
        using (raw)
        {
            using var onDevice = raw.to(device);
            var images = Normalize(onDevice, Normalization);
            if (device.type == DeviceType.CPU) return (images, labels);
            using (labels) return (images, labels.to(device));
        }
    }

    /// <summary>uint8 [n, C, H, W] → float32 (x/255 − mean)/std on the same device.</summary>
    public static Tensor Normalize(Tensor raw, Normalization norm)
    {
        using var f = raw.to(ScalarType.Float32);
        using var scaled = f / 255.0;
        return NormalizeUnit(scaled, norm);
    }

    /// <summary>Images in [0, 1] [n, C, H, W] → (x − mean)/std, in the images' dtype and on their device.</summary>
    public static Tensor NormalizeUnit(Tensor x01, Normalization norm)
    {
        var (mean, std) = Constants(x01, norm);
        using (mean) using (std)
        using (var centred = x01 - mean)
            return centred / std;
    }

    /// <summary>Inverse of <see cref="Normalize"/> clamped to [0, 1] (for image grids).</summary>
    public static Tensor Denormalize(Tensor x, Normalization norm)
    {
        var (mean, std) = Constants(x, norm);
        using (mean) using (std)
        using (var scaled = x * std)
        using (var shifted = scaled + mean)
            return shifted.clamp(0, 1);
    }

    // mean, std as [1, C, 1, 1] in x's dtype on x's device.
    private static (Tensor Mean, Tensor Std) Constants(Tensor x, Normalization norm)
    {
        if (x.Dimensions != 4) throw new ArgumentException($"expected images [n, C, H, W], got [{string.Join(", ", x.shape)}]", nameof(x));
        long c = x.shape[1];
        if (c != norm.Mean.Length)
            throw new ArgumentException($"images have {c} channels, the normalisation {norm.Mean.Length}", nameof(x));
        ScalarType dtype = torch.is_floating_point(x) ? x.dtype : ScalarType.Float32;
        return (torch.tensor(norm.Mean, [1, c, 1, 1], dtype, x.device), torch.tensor(norm.Std, [1, c, 1, 1], dtype, x.device));
    }
}
