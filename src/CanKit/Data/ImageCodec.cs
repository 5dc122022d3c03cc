namespace CanKit.Data;

/// <summary>
/// JPEG and PNG through the native layer (libjpeg-turbo, libpng). Decoded images are uint8 tensors [C, H, W] on
/// the CPU with C = 1 (grayscale) or 3 (RGB); an alpha channel is dropped, CMYK JPEGs are converted to RGB.
/// The format is told by the file's signature, not its extension (ImageNet has PNGs named <c>.JPEG</c>).
/// </summary>
public static class ImageCodec
{
    /// <summary>Whether the native layer was built with libturbojpeg.</summary>
    public static bool HasJpeg => (Native.ck_codec_features() & 1) != 0;

    /// <summary>Whether the native layer was built with libpng.</summary>
    public static bool HasPng => (Native.ck_codec_features() & 2) != 0;

    /// <summary>
    /// Decodes JPEG or PNG bytes to uint8 [C, H, W]. Corrupt or unrecognised data throws
    /// <see cref="InvalidDataException"/> naming <paramref name="source"/> (a file name) with the decoder's message.
    /// </summary>
    public static unsafe Tensor Decode(ReadOnlySpan<byte> data, string? source = null)
    {
        try
        {
            fixed (byte* p = data) return NativeCheck.Result(Native.ck_image_decode(p, data.Length), nameof(Decode));
        }
        catch (TorchException e)
        {
            throw new InvalidDataException($"{source ?? "image data"}: cannot decode ({data.Length} bytes): {e.NativeMessage}", e);
        }
    }

    /// <summary>Reads and decodes one image file to uint8 [C, H, W].</summary>
    public static Tensor DecodeFile(string path) => Decode(File.ReadAllBytes(path), path);

    /// <summary>uint8 [C, H, W] (C = 1 or 3) → PNG bytes (lossless).</summary>
    public static byte[] EncodePng(Tensor chw)
    {
        using var bytes = NativeCheck.Result(Native.ck_png_encode(chw.H), nameof(EncodePng));
        return bytes.ToArray<byte>();
    }

    /// <summary>uint8 [C, H, W] (C = 1 or 3) → baseline JPEG bytes (4:4:4 chroma) at the given quality (1..100).</summary>
    public static byte[] EncodeJpeg(Tensor chw, int quality = 95)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        using var bytes = NativeCheck.Result(Native.ck_jpeg_encode(chw.H, quality), nameof(EncodeJpeg));
        return bytes.ToArray<byte>();
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
        return NativeCheck.Result(Native.ck_resize_center_crop(chw.H, side), nameof(ResizeCenterCrop));
    }
}
