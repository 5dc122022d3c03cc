using SkiaSharp;

using CanKit.Tensors;

namespace CanKit.Data;

/// <summary>
/// JPEG and PNG through SkiaSharp (Skia's bundled libjpeg-turbo and libpng). Decoded images are uint8 tensors
/// [C, H, W] on the CPU with C = 1 (grayscale) or 3 (RGB); an alpha channel is dropped (not composited), CMYK
/// JPEGs are converted to RGB, embedded colour profiles are not applied (as PIL and torchvision read pixels).
/// The format is told by the file's signature, not its extension (ImageNet has PNGs named <c>.JPEG</c>); other
/// formats Skia could read are refused, which keeps the decoders that see untrusted files to these two.
/// </summary>
public static class ImageCodec
{
    /// <summary>
    /// Largest image accepted, in pixels (width × height): PIL's <c>MAX_IMAGE_PIXELS</c> (89 478 485, about
    /// 9459²). The size is read from the header first, so a small file declaring a huge image (a "decompression
    /// bomb") is refused before any pixel memory is allocated.
    /// </summary>
    public const long DefaultMaxPixels = 89_478_485;

    /// <summary>Largest file <see cref="DecodeFile"/> reads into memory (256 MiB).</summary>
    public const long MaxFileBytes = 256L << 20;

    private static readonly byte[] JpegSignature = [0xFF, 0xD8, 0xFF];
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private static readonly Lazy<bool> Available = new(() =>
    {
        try
        {
            using var bitmap = new SKBitmap(new SKImageInfo(1, 1, SKColorType.Gray8, SKAlphaType.Opaque));
            using SKData? data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            return data is { Size: > 0 };
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            return false;
        }
    });

    /// <summary>Whether JPEG can be read and written (SkiaSharp's native library loads).</summary>
    public static bool HasJpeg => Available.Value;

    /// <summary>Whether PNG can be read and written (SkiaSharp's native library loads).</summary>
    public static bool HasPng => Available.Value;

    /// <summary>
    /// Decodes JPEG or PNG bytes to uint8 [C, H, W]. Empty, unrecognised, corrupt or truncated data, and images
    /// over <paramref name="maxPixels"/>, throw <see cref="InvalidDataException"/> naming <paramref name="source"/>
    /// (a file name) and the reason.
    /// </summary>
    public static unsafe Tensor Decode(ReadOnlySpan<byte> data, string? source = null, long maxPixels = DefaultMaxPixels)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPixels, 1);
        string what = source ?? "image data";
        if (data.Length == 0) throw new InvalidDataException($"{what}: empty file (0 bytes), not an image");
        string format = data.StartsWith(JpegSignature) ? "JPEG" : data.StartsWith(PngSignature) ? "PNG"
            : throw new InvalidDataException($"{what}: not a JPEG or PNG file " +
                                             $"(unrecognised signature {Convert.ToHexString(data[..Math.Min(8, data.Length)])}, " +
                                             $"{data.Length} bytes)");

        using var encoded = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(encoded);
        if (codec is null) throw new InvalidDataException($"{what}: corrupt {format} header ({data.Length} bytes)");
        SKImageInfo info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0)
            throw new InvalidDataException($"{what}: corrupt {format}: declares a {info.Width}×{info.Height} image");
        long pixels = (long)info.Width * info.Height;
        if (pixels > maxPixels)
            throw new InvalidDataException($"{what}: {format} declares {info.Width}×{info.Height} = {pixels} pixels, " +
                                           $"over the {maxPixels}-pixel limit; refused before decoding");

        // Gray8 decodes stay one channel; everything else is read as unpremultiplied RGBA so that alpha can be
        // dropped without compositing (premultiplied colours would be darkened by their alpha).
        bool gray = info.ColorType == SKColorType.Gray8;
        var target = new SKImageInfo(info.Width, info.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888,
                                     gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        int h = info.Height, w = info.Width, plane = h * w;
        byte[] decoded = GC.AllocateUninitializedArray<byte>(checked(plane * target.BytesPerPixel));
        SKCodecResult result;
        fixed (byte* p = decoded) result = codec.GetPixels(target, (IntPtr)p);
        if (result != SKCodecResult.Success)
            throw new InvalidDataException(result == SKCodecResult.IncompleteInput
                ? $"{what}: truncated {format} ({data.Length} bytes): the image data ends early"
                : $"{what}: corrupt {format} data ({data.Length} bytes): {result}");

        if (gray) return torch.tensor(decoded, [1, h, w], ScalarType.Byte);
        var chw = GC.AllocateUninitializedArray<byte>(3 * plane);                                // [3, H, W]
        for (int i = 0; i < plane; i++)
        {
            chw[i] = decoded[4 * i];
            chw[plane + i] = decoded[4 * i + 1];
            chw[2 * plane + i] = decoded[4 * i + 2];
        }
        return torch.tensor(chw, [3, h, w], ScalarType.Byte);
    }

    /// <summary>Reads and decodes one image file to uint8 [C, H, W]; errors name <paramref name="path"/>.</summary>
    public static Tensor DecodeFile(string path, long maxPixels = DefaultMaxPixels)
    {
        long length = new FileInfo(path).Length; // FileNotFoundException names the path
        if (length > MaxFileBytes)
            throw new InvalidDataException($"{path}: {length} bytes is over the {MaxFileBytes}-byte limit for one image file");
        return Decode(File.ReadAllBytes(path), path, maxPixels);
    }

    /// <summary>uint8 [C, H, W] (C = 1 or 3, any device) → PNG bytes (lossless; C = 1 is written as grayscale).</summary>
    public static byte[] EncodePng(Tensor chw) => Encode(chw, nameof(EncodePng), pixmap => pixmap.Encode(SKEncodedImageFormat.Png, 100));

    /// <summary>uint8 [C, H, W] (C = 1 or 3) → baseline JPEG bytes (4:4:4 chroma) at the given quality (1..100).</summary>
    public static byte[] EncodeJpeg(Tensor chw, int quality = 95)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        var options = new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample444, SKJpegEncoderAlphaOption.Ignore);
        return Encode(chw, nameof(EncodeJpeg), pixmap => pixmap.Encode(options));
    }

    private static unsafe byte[] Encode(Tensor chw, string what, Func<SKPixmap, SKData?> encode)
    {
        (byte[] interleaved, int c, int h, int w) = Interleave(chw, what);
        var info = new SKImageInfo(w, h, c == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque);
        fixed (byte* p = interleaved)
        {
            using var pixmap = new SKPixmap(info, (IntPtr)p, info.RowBytes);
            using SKData? data = encode(pixmap);
            return data?.ToArray() ?? throw new InvalidOperationException($"{what}: Skia could not encode a {c}×{h}×{w} image");
        }
    }

    // uint8 [C, H, W] → HWC bytes Skia reads: Gray8 for C = 1, RGBA (alpha 255) for C = 3.
    private static (byte[] Pixels, int C, int H, int W) Interleave(Tensor chw, string what)
    {
        if (chw.Dimensions != 3) throw new ArgumentException($"{what}: expected an image [C, H, W], got {Shapes.Of(chw)}", nameof(chw));
        if (chw.dtype != ScalarType.Byte) throw new ArgumentException($"{what}: expected uint8 pixels, got {chw.dtype}", nameof(chw));
        long c = chw.shape[0], h = chw.shape[1], w = chw.shape[2];
        if (c != 1 && c != 3) throw new ArgumentException($"{what}: expected 1 or 3 channels, got {c}", nameof(chw));
        if (h <= 0 || w <= 0 || h > 65535 || w > 65535) throw new ArgumentException($"{what}: image size {h}×{w} is outside 1..65535", nameof(chw));
        using var hwc = chw.permute(1, 2, 0).cpu().contiguous();                                  // [H, W, C]
        byte[] px = hwc.data<byte>().ToArray();
        if (c == 1) return (px, 1, (int)h, (int)w);
        int n = (int)(h * w);
        var rgba = new byte[4 * n];
        for (int i = 0; i < n; i++)
        {
            rgba[4 * i] = px[3 * i];
            rgba[4 * i + 1] = px[3 * i + 1];
            rgba[4 * i + 2] = px[3 * i + 2];
            rgba[4 * i + 3] = 255;
        }
        return (rgba, 3, (int)h, (int)w);
    }

    /// <summary>Writes uint8 [C, H, W] (C = 1 or 3) as a PNG file, atomically (temp file + rename).</summary>
    public static void SavePng(string path, Tensor chw)
    {
        byte[] png = EncodePng(chw);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = full + $".{Environment.ProcessId}.tmp";
        try
        {
            File.WriteAllBytes(tmp, png);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>
    /// uint8 [C, H, W] → uint8 [C, side, side]: the shorter side scaled to <paramref name="side"/> (bilinear,
    /// antialiased when shrinking) and the centred square cropped — torchvision's Resize(side) + CenterCrop(side).
    /// </summary>
    public static Tensor ResizeCenterCrop(Tensor chw, int side)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(side, 1);
        if (chw.Dimensions != 3) throw new ArgumentException($"expected an image [C, H, W], got {Shapes.Of(chw)}", nameof(chw));
        long h = chw.shape[1], w = chw.shape[2];
        if (h <= 0 || w <= 0) throw new ArgumentException($"empty image {h}×{w}", nameof(chw));
        // torchvision rounds the longer side to the nearest pixel, never below side.
        long nh = h <= w ? side : Math.Max(side, (long)(h * (double)side / w + 0.5));
        long nw = h <= w ? Math.Max(side, (long)(w * (double)side / h + 0.5)) : side;
        using var scope = torch.NewDisposeScope();
        Tensor resized = chw;
        if (nh != h || nw != w)
        {
            var x = chw.unsqueeze(0).to(ScalarType.Float32);                                    // [1, C, H, W]
            bool shrink = nh < h || nw < w;
            var y = nn.functional.interpolate(x, [nh, nw], mode: InterpolationMode.Bilinear, align_corners: false, antialias: shrink);
            resized = y.squeeze(0).round().clamp(0, 255).to(ScalarType.Byte);                     // [C, nh, nw]
        }
        long top = (nh - side) / 2, left = (nw - side) / 2;
        var crop = resized.narrow(1, top, side).narrow(2, left, side).contiguous();              // [C, side, side]
        // A crop of the caller's own tensor would alias it; hand back a tensor the caller owns.
        if (ReferenceEquals(resized, chw)) crop = crop.clone();
        return crop.MoveToOuterDisposeScope();
    }
}
