using System.Buffers.Binary;
using System.Text.Json;

namespace CanKit.Data;

/// <summary>An image that could not be decoded, and why.</summary>
public sealed record SkippedImage(string Path, string Reason);

/// <summary>What one <see cref="ImageFolder.Load(string, int, out ImageFolderSummary, bool, IProgress{ValueTuple{int, int}}?, bool)"/> did.</summary>
public sealed record ImageFolderSummary(string Root, int Images, int Classes, IReadOnlyList<SkippedImage> Skipped, bool FromCache, string CachePath,
                                        IReadOnlyList<string>? SkippedFolderLinks = null)
{
    public override string ToString() =>
        $"{Root}: {Images} images in {Classes} classes" + (FromCache ? $" (from cache {CachePath})" : $", cached to {CachePath}") +
        (Skipped.Count == 0 ? "" : $"; {Skipped.Count} unreadable image(s) skipped, first: {Skipped[0].Path}: {Skipped[0].Reason}") +
        (SkippedFolderLinks is not { Count: > 0 } links ? "" : $"; warning: {links.Count} link(s) to folders not followed (a loop or a link into another class would duplicate and mislabel images), first: {links[0]}");
}

/// <summary>
/// Images in class sub-folders (<c>root/&lt;class&gt;/**/*.{jpg,jpeg,png}</c>, the ImageNet / Imagenette layout),
/// decoded, resized (shorter side to <c>side</c>, centre crop side×side, RGB) and labelled by the sorted folder
/// names, as torchvision's ImageFolder does (and, as it does, an empty class folder is an error). Links to files are
/// followed; links to folders are not, and each is named in the summary's warning. The first load decodes everything once and packs the result into
/// <c>root/.cankit-cache-&lt;side&gt;.bin</c> with an index <c>.cankit-cache-&lt;side&gt;.json</c> (written via temp file
/// + rename, index last, so a crash never leaves a half cache that looks whole); every later load only reads the
/// packed file. Delete the two files (or pass <c>rebuild: true</c>) after changing the images.
/// </summary>
public static class ImageFolder
{
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    /// <summary>Largest cache side: one 1024² RGB image is 3 MiB, and a side beyond it is a typo, not a training size.</summary>
    public const int MaxSide = 1024;

    /// <summary>
    /// The image files under <paramref name="folder"/> (sub-folders included), sorted. Links to files are followed
    /// (ImageNet subsets are made of them); links to folders are not: a loop would list images many times and a
    /// link into another class would label its images wrongly. Each skipped folder link is added to <paramref name="skippedLinks"/>.
    /// </summary>
    public static List<string> ImageFiles(string folder, List<string>? skippedLinks = null)
    {
        var files = new List<string>();
        var pending = new Stack<string>();
        pending.Push(folder);
        while (pending.Count > 0)
        {
            string dir = pending.Pop();
            files.AddRange(Directory.EnumerateFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())));
            foreach (string sub in Directory.EnumerateDirectories(dir))
            {
                if (new DirectoryInfo(sub).LinkTarget is { } target) skippedLinks?.Add($"{sub} -> {target}");
                else pending.Push(sub);
            }
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }
    private const int Channels = 3;
    private const int FormatVersion = 1;
    private static readonly byte[] Magic = "CKIMGF01"u8.ToArray();

    public static string CachePath(string root, int side) => Path.Combine(root, $".cankit-cache-{side}.bin");
    private static string IndexPath(string root, int side) => Path.Combine(root, $".cankit-cache-{side}.json");

    private sealed record CacheIndex(int Version, int Side, int Channels, int Count, string[] Classes, long BinBytes, SkippedImage[] Skipped);

    /// <inheritdoc cref="Load(string, int, out ImageFolderSummary, bool, IProgress{ValueTuple{int, int}}?, bool)"/>
    public static ImageSet Load(string root, int side, bool failOnUnreadable = false, IProgress<(int done, int total)>? progress = null) =>
        Load(root, side, out _, failOnUnreadable, progress);

    /// <summary>
    /// Loads the folder as an <see cref="ImageSet"/> of uint8 [N, 3, side, side] with <see cref="Normalization.ImageNet"/>.
    /// An unreadable image is skipped and listed in <paramref name="summary"/>, or, with
    /// <paramref name="failOnUnreadable"/>, stops the load with an <see cref="InvalidDataException"/> naming the file.
    /// <paramref name="progress"/> receives (decoded, total) while decoding.
    /// </summary>
    public static ImageSet Load(string root, int side, out ImageFolderSummary summary, bool failOnUnreadable = false,
                                IProgress<(int done, int total)>? progress = null, bool rebuild = false)
    {
        if (side is < 1 or > MaxSide) throw new ArgumentOutOfRangeException(nameof(side), side, $"the image side must be in 1..{MaxSide}");
        root = Path.GetFullPath(root);
        string name = $"{Path.GetFileName(Path.GetDirectoryName(root.TrimEnd('/')))}/{Path.GetFileName(root.TrimEnd('/'))}";
        string bin = CachePath(root, side), index = IndexPath(root, side);
        if (!rebuild && File.Exists(index) && File.Exists(bin))
        {
            var set = ReadCache(name, bin, index, side, out var cached);
            summary = new ImageFolderSummary(root, set.Count, set.ClassNames.Count, cached.Skipped, FromCache: true, bin);
            return set;
        }
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"image folder {root} not found (expected class sub-folders of JPEG/PNG files; see data-scripts/README.md)");

        var links = new List<string>();
        var classes = new List<string>();
        foreach (string dir in Directory.GetDirectories(root).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal))
        {
            if (new DirectoryInfo(dir).LinkTarget is { } target) links.Add($"{dir} -> {target}");
            else classes.Add(Path.GetFileName(dir));
        }
        if (classes.Count == 0) throw new InvalidDataException($"{root}: no class sub-folders" + (links.Count > 0 ? $" (links to folders are not followed: {links[0]})" : ""));
        var files = new List<(string Path, int Label)>();
        for (int c = 0; c < classes.Count; c++)
        {
            var found = ImageFiles(Path.Combine(root, classes[c]), links);
            // As torchvision's ImageFolder: an empty class would still take a label and a logit, and never be seen.
            if (found.Count == 0)
                throw new InvalidDataException($"{Path.Combine(root, classes[c])}: class folder has no {string.Join("/", Extensions)} files; remove it or add its images");
            files.AddRange(found.Select(f => (f, c)));
        }

        File.Delete(index);  // an index only ever describes the bin written just before it
        var skipped = WriteCache(files, side, bin, failOnUnreadable, progress, out int kept);
        var idx = new CacheIndex(FormatVersion, side, Channels, kept, classes.ToArray(), new FileInfo(bin).Length, skipped.ToArray());
        WriteAtomic(index, JsonSerializer.SerializeToUtf8Bytes(idx, new JsonSerializerOptions { WriteIndented = true }));
        var result = ReadCache(name, bin, index, side, out _);
        summary = new ImageFolderSummary(root, result.Count, classes.Count, skipped, FromCache: false, bin, links);
        return result;
    }

    // Packed layout: magic "CKIMGF01", int32 count, channels, side, side (little-endian), int32 labels[count],
    // then uint8 pixels [count, C, side, side].
    private static List<SkippedImage> WriteCache(List<(string Path, int Label)> files, int side, string bin, bool failOnUnreadable,
                                                 IProgress<(int, int)>? progress, out int kept)
    {
        int imageBytes = Channels * side * side;
        var skipped = new List<SkippedImage>();
        var labels = new List<int>(files.Count);
        string tmpPixels = bin + $".{Environment.ProcessId}.pixels.tmp";
        try
        {
            // Decode in chunks (in parallel within a chunk) and stream pixels to disk, so memory stays bounded.
            using (var px = new FileStream(tmpPixels, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                int chunk = Math.Clamp((256 << 20) / imageBytes, 1, 256);   // at most 256 MiB of decoded pixels in flight
                var buffer = new byte[chunk * imageBytes];
                var errors = new string?[chunk];
                var opts = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
                progress?.Report((0, files.Count));
                for (int start = 0; start < files.Count; start += chunk)
                {
                    int n = Math.Min(chunk, files.Count - start);
                    Parallel.For(0, n, opts, i =>
                    {
                        errors[i] = null;
                        try { DecodeInto(files[start + i].Path, side, buffer.AsSpan(i * imageBytes, imageBytes)); }
                        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                        {
                            errors[i] = e.Message;
                        }
                    });
                    for (int i = 0; i < n; i++)
                    {
                        var (path, label) = files[start + i];
                        if (errors[i] is { } err)
                        {
                            if (failOnUnreadable) throw new InvalidDataException(err.StartsWith(path) ? err : $"{path}: {err}");
                            skipped.Add(new SkippedImage(path, err.StartsWith(path) ? err[path.Length..].TrimStart(':', ' ') : err));
                            continue;
                        }
                        px.Write(buffer, i * imageBytes, imageBytes);
                        labels.Add(label);
                    }
                    progress?.Report((start + n, files.Count));
                }
            }
            if (labels.Count == 0)
                throw new InvalidDataException($"none of the {files.Count} images under {Path.GetDirectoryName(bin)} could be decoded; first error: {skipped[0].Path}: {skipped[0].Reason}");

            string tmpBin = bin + $".{Environment.ProcessId}.tmp";
            using (var output = new FileStream(tmpBin, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> header = stackalloc byte[24];
                Magic.CopyTo(header);
                BinaryPrimitives.WriteInt32LittleEndian(header[8..], labels.Count);
                BinaryPrimitives.WriteInt32LittleEndian(header[12..], Channels);
                BinaryPrimitives.WriteInt32LittleEndian(header[16..], side);
                BinaryPrimitives.WriteInt32LittleEndian(header[20..], side);
                output.Write(header);
                var lab = new byte[labels.Count * 4];
                for (int i = 0; i < labels.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(lab.AsSpan(i * 4), labels[i]);
                output.Write(lab);
                using var input = File.OpenRead(tmpPixels);
                input.CopyTo(output, 1 << 20);
            }
            File.Move(tmpBin, bin, overwrite: true);
            kept = labels.Count;
            return skipped;
        }
        finally
        {
            File.Delete(tmpPixels);
        }
    }

    // One file → RGB uint8 [3, side, side] written into dst.
    private static void DecodeInto(string path, int side, Span<byte> dst)
    {
        using var chw = ImageCodec.DecodeFile(path);                                            // [C, H, W]
        using var square = ImageCodec.ResizeCenterCrop(chw, side);                              // [C, side, side]
        byte[] px = square.data<byte>().ToArray();
        int plane = side * side;
        if (px.Length == Channels * plane) { px.CopyTo(dst); return; }
        for (int c = 0; c < Channels; c++) px.AsSpan(0, plane).CopyTo(dst.Slice(c * plane, plane));  // gray → RGB
    }

    private static ImageSet ReadCache(string name, string bin, string index, int side, out CacheIndex idx)
    {
        try
        {
            idx = JsonSerializer.Deserialize<CacheIndex>(File.ReadAllBytes(index)) ?? throw new InvalidDataException($"{index}: empty cache index");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{index}: not a cache index ({e.Message.Split('\n')[0]}); delete it and {bin} to rebuild", e);
        }
        if (idx.Classes is null || idx.Classes.Length == 0 || idx.Classes.Any(c => c is null) || idx.Count <= 0 || idx.Channels != Channels || idx.Skipped is null)
            throw new InvalidDataException($"{index}: cache index has missing or invalid fields (Classes, Count, Channels, Skipped); delete it and {bin} to rebuild");
        long length = new FileInfo(bin).Length;
        long pixelBytes = (long)idx.Count * idx.Channels * side * side;
        if (idx.Version != FormatVersion || idx.Side != side || idx.BinBytes != length || length != 24 + 4L * idx.Count + pixelBytes)
            throw new InvalidDataException($"{bin}: cache does not match its index {index} (version, side or size differ); delete both files to rebuild");
        if (pixelBytes > Array.MaxLength)
            throw new InvalidDataException($"{bin}: {pixelBytes} pixel bytes exceed what one in-memory ImageSet can hold ({Array.MaxLength}); use a smaller side or fewer classes");
        using var f = File.OpenRead(bin);
        Span<byte> header = stackalloc byte[24];
        f.ReadExactly(header);
        if (!header[..8].SequenceEqual(Magic) || BinaryPrimitives.ReadInt32LittleEndian(header[8..]) != idx.Count)
            throw new InvalidDataException($"{bin}: not a CanKit image-folder cache (bad header); delete it and its index to rebuild");
        var lab = new byte[4 * idx.Count];
        f.ReadExactly(lab);
        var labels = new int[idx.Count];
        for (int i = 0; i < labels.Length; i++)
        {
            labels[i] = BinaryPrimitives.ReadInt32LittleEndian(lab.AsSpan(i * 4));
            if ((uint)labels[i] >= (uint)idx.Classes.Length) throw new InvalidDataException($"{bin}: label {labels[i]} of image {i} is outside 0..{idx.Classes.Length - 1}");
        }
        var pixels = new byte[pixelBytes];
        f.ReadExactly(pixels);
        return new ImageSet(name, pixels, labels, idx.Channels, side, side, idx.Classes, Normalization.ImageNet);
    }

    private static void WriteAtomic(string path, byte[] bytes)
    {
        string tmp = path + $".{Environment.ProcessId}.tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
