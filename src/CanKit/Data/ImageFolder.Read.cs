using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;

namespace CanKit.Data;

// Reading a finished cache back: opening it as an ImageSet and checking its pixels against the chunk checksums.
public static partial class ImageFolder
{
    /// <summary>
    /// Reads the whole cache back and checks every chunk against the SHA-256 its index records; throws an
    /// <see cref="InvalidDataException"/> naming the file and the first chunk that differs.
    /// </summary>
    public static void VerifyCache(string root, int side)
    {
        root = Path.GetFullPath(root);
        using var store = ReadCache(root, side, ImageStorage.File, out var idx).Storage;
        if (idx.Chunks is null)
            throw new InvalidDataException($"{IndexPath(root, side)}: a version-{idx.Version} index records no chunk checksums; " +
                                           "rebuild the cache to verify it");
        VerifyChunks(CachePath(root, side), idx.Version == 1 ? HeaderBytes + 4L * idx.Count : HeaderBytes, Channels * side * side, idx.Chunks);
    }

    private static void VerifyChunks(string bin, long pixelsAt, int imageBytes, IReadOnlyList<CacheChunk> chunks)
    {
        using var file = new FilePixels(bin);
        var buffer = new byte[1 << 20];
        long expectImage = 0;
        foreach (var chunk in chunks)
        {
            if (chunk.FirstImage != expectImage) throw new InvalidDataException($"{bin}: chunk list skips from image {expectImage} to {chunk.FirstImage}");
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long at = pixelsAt + chunk.FirstImage * (long)imageBytes, end = at + chunk.Images * (long)imageBytes;
            for (; at < end; at += buffer.Length)
            {
                var span = buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - at));
                file.Read(at, span);
                sha.AppendData(span);
            }
            if (Convert.ToHexString(sha.GetHashAndReset()) != chunk.Sha256)
                throw new InvalidDataException($"{bin}: images {chunk.FirstImage}..{chunk.FirstImage + chunk.Images - 1} " +
                                               "differ from the checksum recorded when they were written; delete the cache and rebuild it");
            expectImage += chunk.Images;
        }
    }

    private static ImageSet ReadCache(string root, int side, ImageStorage storage, out CacheIndex idx)
    {
        string bin = CachePath(root, side), index = IndexPath(root, side);
        string name = $"{Path.GetFileName(Path.GetDirectoryName(root.TrimEnd('/')))}/{Path.GetFileName(root.TrimEnd('/'))}";
        if (!File.Exists(index) || !File.Exists(bin))
            throw new FileNotFoundException($"{root} has no finished cache at side {side} ({bin} and its index); " +
                                            $"build it with `cankit data cache {root} --side {side}`", bin);
        try
        {
            idx = JsonSerializer.Deserialize<CacheIndex>(File.ReadAllBytes(index)) ?? throw new InvalidDataException($"{index}: empty cache index");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{index}: not a cache index ({e.Message.Split('\n')[0]}); delete it and {bin} to rebuild", e);
        }
        if (idx.Classes is null || idx.Classes.Length == 0 || idx.Classes.Any(c => c is null) || idx.Count <= 0 ||
            idx.Channels != Channels || idx.Skipped is null)
            throw new InvalidDataException($"{index}: cache index has missing or invalid fields (Classes, Count, Channels, Skipped); " +
                                           $"delete it and {bin} to rebuild");
        long length = new FileInfo(bin).Length;
        long pixelBytes = (long)idx.Count * idx.Channels * side * side;
        if (idx.Version is not (1 or FormatVersion) || idx.Side != side || idx.BinBytes != length || length != HeaderBytes + 4L * idx.Count + pixelBytes)
            throw new InvalidDataException($"{bin}: cache does not match its index {index} " +
                                           $"(version, side or size differ: {length} bytes on disk, the index says {idx.BinBytes}); " +
                                           "delete both files to rebuild");
        var (magic, labelsAt, pixelsAt) = idx.Version == 1
                    ? (MagicV1, HeaderBytes, HeaderBytes + 4L * idx.Count)
                    : (MagicV2, HeaderBytes + pixelBytes, (long)HeaderBytes);
        if (storage == ImageStorage.Memory && pixelBytes > Array.MaxLength)
            throw new InvalidDataException($"{bin}: {pixelBytes} pixel bytes " +
                                           $"exceed what one in-memory ImageSet can hold ({Array.MaxLength}); " +
                                           "read it from the file instead (storage File or Auto)");

        PixelStore file = storage == ImageStorage.Mapped ? new MappedPixels(bin) : new FilePixels(bin);
        try
        {
            Span<byte> header = stackalloc byte[HeaderBytes];
            file.Read(0, header);
            if (!header[..8].SequenceEqual(magic) || BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != idx.Count)
                throw new InvalidDataException($"{bin}: not a CanKit image-folder cache (bad header); delete it and its index to rebuild");
            var lab = new byte[4L * idx.Count];
            file.Read(labelsAt, lab);
            var labels = new int[idx.Count];
            for (int i = 0; i < labels.Length; i++)
            {
                labels[i] = BinaryPrimitives.ReadInt32LittleEndian(lab.AsSpan(i * 4));
                if ((uint)labels[i] >= (uint)idx.Classes.Length)
                    throw new InvalidDataException($"{bin}: label {labels[i]} of image {i} is outside 0..{idx.Classes.Length - 1}");
            }
            var set = new ImageSet(name, file, pixelsAt, labels, idx.Channels, side, side, idx.Classes, Normalization.ImageNet);
            if (storage == ImageStorage.Memory || (storage == ImageStorage.Auto && pixelBytes <= AutoMemoryBytes))
            {
                set = set.ToMemory();
                file.Dispose();
            }
            return set;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
