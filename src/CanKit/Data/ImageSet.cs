using CanKit.Tensors;

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
/// A labelled set of uint8 images, channels first: image i occupies bytes <c>[i·C·H·W, (i+1)·C·H·W)</c> of its
/// pixels, in [C, H, W] order. Every dataset loader produces one. The pixels live in a <see cref="PixelStore"/>:
/// a managed array for the small sets (Fashion-MNIST, CIFAR), or a packed cache file read on demand
/// (<see cref="FilePixels"/>, <see cref="MappedPixels"/>) for sets past memory; batches, augmentations and trainers
/// see the same contract either way (<see cref="RawBatch"/>, <see cref="CopyImage"/>, <see cref="Take"/>).
/// Offsets are 64-bit throughout, so a file-backed set may hold any number of bytes.
/// </summary>
public sealed class ImageSet
{
    private readonly long _offset;   // byte offset of image 0 in the store

    public string Name { get; }
    public PixelStore Storage { get; }
    public int[] Labels { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public IReadOnlyList<string> ClassNames { get; }
    public Normalization Normalization { get; }

    public int Count => Labels.Length;
    public int ImageBytes => Channels * Height * Width;
    /// <summary>Bytes of all the images: Count · C · H · W, as a 64-bit number.</summary>
    public long PixelBytes => (long)Count * ImageBytes;
    /// <summary>True when the pixels are a managed array in this process, false when they are read from a file.</summary>
    public bool InMemory => Storage.InMemory;

    /// <summary>An in-memory set: <paramref name="pixels"/> holds exactly Count · C · H · W bytes.</summary>
    public ImageSet(string name, byte[] pixels, int[] labels, int channels, int height, int width,
                    IReadOnlyList<string> classNames, Normalization normalization)
        : this(name, Exact(name, pixels, labels.Length, (long)channels * height * width), 0, labels, channels, height, width, classNames, normalization) { }

    private static MemoryPixels Exact(string name, byte[] pixels, int count, long imageBytes) =>
        count * imageBytes == pixels.Length ? new MemoryPixels(pixels)
            : throw new ArgumentException($"{name}: {pixels.Length} pixel bytes do not hold {count} images of {imageBytes} bytes");

    /// <summary>A set whose image i starts at byte <paramref name="offset"/> + i·C·H·W of <paramref name="storage"/>.</summary>
    public ImageSet(string name, PixelStore storage, long offset, int[] labels, int channels, int height, int width,
                    IReadOnlyList<string> classNames, Normalization normalization)
    {
        if (channels < 1 || height < 1 || width < 1 || (long)channels * height * width > Array.MaxLength)
            throw new ArgumentException($"{name}: images of {channels}×{height}×{width} are not possible");
        if (offset < 0 || offset + (long)labels.Length * channels * height * width > storage.Length)
            throw new ArgumentException($"{name}: {storage.Source} has {storage.Length} bytes, " +
                                        $"fewer than {labels.Length} images of {channels}×{height}×{width} from byte {offset} need");
        if (normalization.Mean.Length != channels || normalization.Std.Length != channels)
            throw new ArgumentException($"{name}: normalisation has {normalization.Mean.Length} channels, images have {channels}");
        // Every loader names the file of a bad label; this is the last line before a label reaches a loss or a vote.
        int bad = Array.FindIndex(labels, l => (uint)l >= (uint)classNames.Count);
        if (bad >= 0) throw new ArgumentException($"{name}: label {labels[bad]} of image {bad} is outside 0..{classNames.Count - 1}");
        (Name, Storage, _offset, Labels, Channels, Height, Width, ClassNames, Normalization) =
                (name, storage, offset, labels, channels, height, width, classNames, normalization);
    }

    /// <summary>
    /// The first <paramref name="count"/> images (e.g. a quick-mode slice). An in-memory set is copied (the subset
    /// shares nothing with this set); a file-backed one shares the read-only store.
    /// </summary>
    public ImageSet Take(int count)
    {
        count = Math.Clamp(count, 0, Count);
        var labels = Labels.AsSpan(0, count).ToArray();
        if (!InMemory) return new ImageSet(Name, Storage, _offset, labels, Channels, Height, Width, ClassNames, Normalization);
        var px = new byte[(long)count * ImageBytes];
        Storage.Read(_offset, px);
        return new ImageSet(Name, px, labels, Channels, Height, Width, ClassNames, Normalization);
    }

    /// <summary>
    /// Every image after the first <paramref name="count"/> (a validation split held out of the end of a training set).
    /// An in-memory set is copied; a file-backed one shares the read-only store.
    /// </summary>
    public ImageSet Skip(int count)
    {
        count = Math.Clamp(count, 0, Count);
        var labels = Labels.AsSpan(count).ToArray();
        long offset = _offset + (long)count * ImageBytes;
        if (!InMemory) return new ImageSet(Name, Storage, offset, labels, Channels, Height, Width, ClassNames, Normalization);
        var px = new byte[(long)labels.Length * ImageBytes];
        Storage.Read(offset, px);
        return new ImageSet(Name, px, labels, Channels, Height, Width, ClassNames, Normalization);
    }

    /// <summary>This set with all its pixels in one managed array (itself when it already is), for sets that fit.</summary>
    public ImageSet ToMemory()
    {
        if (InMemory && _offset == 0 && Storage.Length == PixelBytes) return this;
        if (PixelBytes > Array.MaxLength)
            throw new InvalidOperationException($"{Name}: {PixelBytes} pixel bytes " +
                                                $"exceed what one in-memory array can hold ({Array.MaxLength}); " +
                                                "keep the set file-backed");
        var px = new byte[PixelBytes];
        Storage.Read(_offset, px);
        return new ImageSet(Name, px, Labels, Channels, Height, Width, ClassNames, Normalization);
    }

    /// <summary>Copies the [C, H, W] bytes of image <paramref name="index"/> into <paramref name="dst"/> (ImageBytes long).</summary>
    public void CopyImage(int index, Span<byte> dst)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"{Name} has {Count} images");
        if (dst.Length != ImageBytes) throw new ArgumentException($"{Name}: an image is {ImageBytes} bytes, the buffer {dst.Length}", nameof(dst));
        Storage.Read(_offset + (long)index * ImageBytes, dst);
    }

    /// <summary>The [C, H, W] bytes of image <paramref name="index"/> as a new array.</summary>
    public byte[] Image(int index)
    {
        var px = new byte[ImageBytes];
        CopyImage(index, px);
        return px;
    }

    /// <summary>Raw pixels of the given samples as a uint8 tensor [n, C, H, W] (CPU), and labels [n] int64.</summary>
    public (Tensor Images, Tensor Labels) RawBatch(ReadOnlySpan<int> indices)
    {
        int b = ImageBytes;
        var x = new byte[(long)indices.Length * b];
        var y = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            CopyImage(indices[i], x.AsSpan(i * b, b));
            y[i] = Labels[indices[i]];
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
        if (x.Dimensions != 4) throw new ArgumentException($"expected images [n, C, H, W], got {Shapes.Of(x)}", nameof(x));
        long c = x.shape[1];
        if (c != norm.Mean.Length)
            throw new ArgumentException($"images have {c} channels, the normalisation {norm.Mean.Length}", nameof(x));
        ScalarType dtype = torch.is_floating_point(x) ? x.dtype : ScalarType.Float32;
        return (torch.tensor(norm.Mean, [1, c, 1, 1], dtype, x.device), torch.tensor(norm.Std, [1, c, 1, 1], dtype, x.device));
    }
}
