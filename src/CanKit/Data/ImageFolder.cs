using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;

namespace CanKit.Data;

/// <summary>An image that could not be decoded, and why.</summary>
public sealed record SkippedImage(string Path, string Reason);

/// <summary>What one <see cref="ImageFolder.Load(string, int, out ImageFolderSummary, bool, IProgress{ValueTuple{int, int}}?, bool, ImageStorage, CancellationToken)"/> or <see cref="ImageFolder.BuildCache"/> did.</summary>
public sealed record ImageFolderSummary(string Root, int Images, int Classes, IReadOnlyList<SkippedImage> Skipped, bool FromCache, string CachePath,
                                        IReadOnlyList<string>? SkippedFolderLinks = null, int ResumedAtFile = 0)
{
    public override string ToString() =>
        $"{Root}: {Images} images in {Classes} classes" + (FromCache ? $" (from cache {CachePath})" : (ResumedAtFile > 0 ? $", cached to {CachePath} (resumed at file {ResumedAtFile})" : $", cached to {CachePath}")) +
        (Skipped.Count == 0 ? "" : $"; {Skipped.Count} unreadable image(s) skipped, first: {Skipped[0].Path}: {Skipped[0].Reason}") +
        (SkippedFolderLinks is not { Count: > 0 } links ? "" : $"; warning: {links.Count} link(s) to folders not followed (a loop or a link into another class would duplicate and mislabel images), first: {links[0]}");
}

/// <summary>
/// Images in class sub-folders (<c>root/&lt;class&gt;/**/*.{jpg,jpeg,png}</c>, the ImageNet / Imagenette layout),
/// decoded, resized (shorter side to <c>side</c>, centre crop side×side, RGB) and labelled by the sorted folder
/// names, as torchvision's ImageFolder does (and, as it does, an empty class folder is an error). Links to files are
/// followed; links to folders are not, and each is named in the summary's warning. The first load decodes everything
/// once into <c>root/.cankit-cache-&lt;side&gt;.bin</c> with an index <c>.cankit-cache-&lt;side&gt;.json</c>, in
/// resumable chunks (see <see cref="BuildCache"/>; the index is written last, after the file is checked, so a crash
/// never leaves a half cache that looks whole); every later load only reads the packed file, into memory for a
/// small set or on demand from the file for one of any size (<see cref="ImageStorage"/>). Delete the cache files (or
/// pass <c>rebuild: true</c>) after changing the images.
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
    private const int HeaderBytes = 24;
    private const int FormatVersion = 2;   // 2: header, pixels, labels (written in place, resumable); 1: header, labels, pixels (still read)
    private static readonly byte[] MagicV1 = "CKIMGF01"u8.ToArray();
    private static readonly byte[] MagicV2 = "CKIMGF02"u8.ToArray();

    /// <summary><see cref="ImageStorage.Auto"/> keeps a set in memory up to this many pixel bytes and reads a larger one from its file.</summary>
    public const long AutoMemoryBytes = 1L << 30;

    public static string CachePath(string root, int side) => Path.Combine(root, $".cankit-cache-{side}.bin");
    public static string IndexPath(string root, int side) => Path.Combine(root, $".cankit-cache-{side}.json");
    /// <summary>The cache file while it is being written (it becomes <see cref="CachePath"/> when complete).</summary>
    public static string PartialPath(string root, int side) => Path.Combine(root, $".cankit-cache-{side}.partial");
    /// <summary>The record of how far an unfinished build got; a later build continues from it.</summary>
    public static string ProgressPath(string root, int side) => Path.Combine(root, $".cankit-cache-{side}.progress.json");

    /// <summary>Images [FirstImage, FirstImage + Images) of the cache, written together, and the SHA-256 of their pixel bytes.</summary>
    public sealed record CacheChunk(int FirstImage, int Images, string Sha256);

    private sealed record CacheIndex(int Version, int Side, int Channels, int Count, string[] Classes, long BinBytes, SkippedImage[] Skipped, CacheChunk[]? Chunks = null);

    // Where an unfinished build stands: files [0, Done) of the listing are decoded, their kept pixels committed (flushed)
    // to the partial file as Chunks; a build of the same listing, side and chunk size continues from there.
    private sealed record BuildProgress(int Version, int Side, string Listing, int Files, int ChunkFiles, int Done, SkippedImage[] Skipped, CacheChunk[] Chunks);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <inheritdoc cref="Load(string, int, out ImageFolderSummary, bool, IProgress{ValueTuple{int, int}}?, bool, ImageStorage, CancellationToken)"/>
    public static ImageSet Load(string root, int side, bool failOnUnreadable = false, IProgress<(int done, int total)>? progress = null) =>
        Load(root, side, out _, failOnUnreadable, progress);

    /// <summary>
    /// Loads the folder as an <see cref="ImageSet"/> of uint8 [N, 3, side, side] with <see cref="Normalization.ImageNet"/>,
    /// building the cache first when there is none (see <see cref="BuildCache"/>), then opening it as
    /// <paramref name="storage"/> says. An unreadable image is skipped and listed in <paramref name="summary"/>, or, with
    /// <paramref name="failOnUnreadable"/>, stops the load with an <see cref="InvalidDataException"/> naming the file.
    /// <paramref name="progress"/> receives (decoded, total) while decoding.
    /// </summary>
    public static ImageSet Load(string root, int side, out ImageFolderSummary summary, bool failOnUnreadable = false,
                                IProgress<(int done, int total)>? progress = null, bool rebuild = false,
                                ImageStorage storage = ImageStorage.Auto, CancellationToken cancel = default)
    {
        CheckSide(side);
        root = Path.GetFullPath(root);
        if (!rebuild && File.Exists(IndexPath(root, side)) && File.Exists(CachePath(root, side)))
        {
            var set = ReadCache(root, side, storage, out var cached);
            summary = new ImageFolderSummary(root, set.Count, set.ClassNames.Count, cached.Skipped, FromCache: true, CachePath(root, side));
            return set;
        }
        summary = BuildCache(root, side, failOnUnreadable, progress, rebuild, cancel);
        return ReadCache(root, side, storage, out _);
    }

    /// <summary>Opens the finished cache of <paramref name="root"/> at <paramref name="side"/> without touching the images.</summary>
    public static ImageSet Open(string root, int side, ImageStorage storage = ImageStorage.Auto)
    {
        CheckSide(side);
        return ReadCache(Path.GetFullPath(root), side, storage, out _);
    }

    private static void CheckSide(int side)
    {
        if (side is < 1 or > MaxSide) throw new ArgumentOutOfRangeException(nameof(side), side, $"the image side must be in 1..{MaxSide}");
    }

    /// <summary>
    /// Decodes the folder into its cache. Pixels are written in chunks of <paramref name="chunkFiles"/> files (0: as
    /// many as fit in 256 MiB, at most 256), each flushed to disk and then recorded in <see cref="ProgressPath"/>, so
    /// a build that is cancelled, killed or crashes continues at its last recorded chunk the next time (same listing,
    /// side and chunk size; <paramref name="rebuild"/> starts over). The finished file is read back and checked
    /// against the SHA-256 of every chunk before its index is written. Two builds of one cache at once are refused.
    /// </summary>
    public static ImageFolderSummary BuildCache(string root, int side, bool failOnUnreadable = false, IProgress<(int done, int total)>? progress = null,
                                                bool rebuild = false, CancellationToken cancel = default, int chunkFiles = 0)
    {
        CheckSide(side);
        ArgumentOutOfRangeException.ThrowIfNegative(chunkFiles);
        root = Path.GetFullPath(root);
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

        string bin = CachePath(root, side), index = IndexPath(root, side);
        File.Delete(index);  // an index only ever describes the bin written just before it
        if (rebuild) { File.Delete(PartialPath(root, side)); File.Delete(ProgressPath(root, side)); }
        var (skipped, kept, chunks, resumedAt) = WriteCache(root, files, side, failOnUnreadable, progress, cancel, chunkFiles);
        VerifyChunks(bin, HeaderBytes, Channels * side * side, chunks);
        var idx = new CacheIndex(FormatVersion, side, Channels, kept, classes.ToArray(), new FileInfo(bin).Length, skipped, chunks);
        WriteAtomic(index, JsonSerializer.SerializeToUtf8Bytes(idx, Indented));
        File.Delete(ProgressPath(root, side));
        return new ImageFolderSummary(root, kept, classes.Count, skipped, FromCache: false, bin, links, resumedAt);
    }

    /// <summary>
    /// Reads the whole cache back and checks every chunk against the SHA-256 its index records; throws an
    /// <see cref="InvalidDataException"/> naming the file and the first chunk that differs.
    /// </summary>
    public static void VerifyCache(string root, int side)
    {
        root = Path.GetFullPath(root);
        using var store = ReadCache(root, side, ImageStorage.File, out var idx).Storage;
        if (idx.Chunks is null)
            throw new InvalidDataException($"{IndexPath(root, side)}: a version-{idx.Version} index records no chunk checksums; rebuild the cache to verify it");
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
                throw new InvalidDataException($"{bin}: images {chunk.FirstImage}..{chunk.FirstImage + chunk.Images - 1} differ from the checksum recorded when they were written; delete the cache and rebuild it");
            expectImage += chunk.Images;
        }
    }

    // Version-2 layout: magic "CKIMGF02", int32 count, channels, side, side (little-endian), uint8 pixels
    // [count, C, side, side], then int32 labels[count]. Pixels go straight to their place in the partial file, so
    // a resumed build appends to it and the finished file is renamed, never copied.
    private static (SkippedImage[] Skipped, int Kept, CacheChunk[] Chunks, int ResumedAt) WriteCache(
        string root, List<(string Path, int Label)> files, int side, bool failOnUnreadable, IProgress<(int, int)>? progress,
        CancellationToken cancel, int chunkFiles)
    {
        int imageBytes = Channels * side * side;
        int chunk = chunkFiles > 0 ? chunkFiles : Math.Clamp((256 << 20) / imageBytes, 1, 256);   // at most 256 MiB of decoded pixels in flight
        string partial = PartialPath(root, side), record = ProgressPath(root, side);
        string listing = Listing(root, files);
        var prior = ReadProgress(record);
        if (prior is not null && (prior.Version != FormatVersion || prior.Side != side || prior.Listing != listing || prior.Files != files.Count ||
                                  prior.ChunkFiles != chunk || !File.Exists(partial) ||
                                  new FileInfo(partial).Length < HeaderBytes + (long)prior.Chunks.Sum(c => c.Images) * imageBytes))
            prior = null;   // another listing, side or chunk size, or a partial file shorter than recorded: start over

        FileStream px;
        try
        {
            px = new FileStream(partial, prior is null ? FileMode.Create : FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        }
        catch (IOException e) when (File.Exists(partial))
        {
            throw new IOException($"{partial}: cannot open the cache being built ({e.Message}); is another cankit building this cache?", e);
        }
        using (px)
        {
            var skipped = new List<SkippedImage>(prior?.Skipped ?? []);
            var chunks = new List<CacheChunk>(prior?.Chunks ?? []);
            int done = prior?.Done ?? 0, kept = chunks.Sum(c => c.Images);
            // Drop whatever was written after the last record; a new file starts with a zero header, written for real
            // last, once the count is known.
            px.SetLength(HeaderBytes + (long)kept * imageBytes);
            px.Position = px.Length;

            var buffer = new byte[chunk * imageBytes];
            var errors = new string?[chunk];
            var opts = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancel };
            progress?.Report((done, files.Count));
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (int start = done; start < files.Count; start += chunk)
            {
                cancel.ThrowIfCancellationRequested();
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
                int first = kept;
                for (int i = 0; i < n; i++)
                {
                    string path = files[start + i].Path;
                    if (errors[i] is { } err)
                    {
                        if (failOnUnreadable) throw new InvalidDataException(err.StartsWith(path) ? err : $"{path}: {err}");
                        skipped.Add(new SkippedImage(path, err.StartsWith(path) ? err[path.Length..].TrimStart(':', ' ') : err));
                        continue;
                    }
                    var image = buffer.AsSpan(i * imageBytes, imageBytes);
                    px.Write(image);
                    sha.AppendData(image);
                    kept++;
                }
                px.Flush(flushToDisk: true);   // the record below must never name bytes that are not on disk
                chunks.Add(new CacheChunk(first, kept - first, Convert.ToHexString(sha.GetHashAndReset())));
                var now = new BuildProgress(FormatVersion, side, listing, files.Count, chunk, start + n, skipped.ToArray(), chunks.ToArray());
                WriteAtomic(record, JsonSerializer.SerializeToUtf8Bytes(now, Indented));
                progress?.Report((start + n, files.Count));
            }
            if (kept == 0)
                throw new InvalidDataException($"none of the {files.Count} images under {root} could be decoded; first error: {skipped[0].Path}: {skipped[0].Reason}");

            var dropped = skipped.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
            var labels = new byte[4L * kept];
            int k = 0;
            foreach (var (path, label) in files)
                if (!dropped.Contains(path)) BinaryPrimitives.WriteInt32LittleEndian(labels.AsSpan(4 * k++), label);
            px.Write(labels);
            Span<byte> header = stackalloc byte[HeaderBytes];
            MagicV2.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header[8..], kept);
            BinaryPrimitives.WriteInt32LittleEndian(header[12..], Channels);
            BinaryPrimitives.WriteInt32LittleEndian(header[16..], side);
            BinaryPrimitives.WriteInt32LittleEndian(header[20..], side);
            px.Position = 0;
            px.Write(header);
            px.Flush(flushToDisk: true);
            File.Move(partial, CachePath(root, side), overwrite: true);
            return (skipped.ToArray(), kept, chunks.ToArray(), prior?.Done ?? 0);
        }
    }

    // SHA-256 of the sorted (relative path, label) list: a resumed build must continue the same listing.
    private static string Listing(string root, List<(string Path, int Label)> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (path, label) in files) sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{Path.GetRelativePath(root, path)}\0{label}\n"));
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static BuildProgress? ReadProgress(string record)
    {
        if (!File.Exists(record)) return null;
        try
        {
            var p = JsonSerializer.Deserialize<BuildProgress>(File.ReadAllBytes(record));
            return p is { Listing: not null, Skipped: not null, Chunks: not null } && p.Done >= 0 && p.Done <= p.Files ? p : null;
        }
        catch (JsonException) { return null; }   // an unreadable record only costs a fresh start
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

    private static ImageSet ReadCache(string root, int side, ImageStorage storage, out CacheIndex idx)
    {
        string bin = CachePath(root, side), index = IndexPath(root, side);
        string name = $"{Path.GetFileName(Path.GetDirectoryName(root.TrimEnd('/')))}/{Path.GetFileName(root.TrimEnd('/'))}";
        if (!File.Exists(index) || !File.Exists(bin))
            throw new FileNotFoundException($"{root} has no finished cache at side {side} ({bin} and its index); build it with `cankit data cache {root} --side {side}`", bin);
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
        if (idx.Version is not (1 or FormatVersion) || idx.Side != side || idx.BinBytes != length || length != HeaderBytes + 4L * idx.Count + pixelBytes)
            throw new InvalidDataException($"{bin}: cache does not match its index {index} (version, side or size differ: {length} bytes on disk, the index says {idx.BinBytes}); delete both files to rebuild");
        var (magic, labelsAt, pixelsAt) = idx.Version == 1 ? (MagicV1, HeaderBytes, HeaderBytes + 4L * idx.Count) : (MagicV2, HeaderBytes + pixelBytes, (long)HeaderBytes);
        if (storage == ImageStorage.Memory && pixelBytes > Array.MaxLength)
            throw new InvalidDataException($"{bin}: {pixelBytes} pixel bytes exceed what one in-memory ImageSet can hold ({Array.MaxLength}); read it from the file instead (storage File or Auto)");

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
                if ((uint)labels[i] >= (uint)idx.Classes.Length) throw new InvalidDataException($"{bin}: label {labels[i]} of image {i} is outside 0..{idx.Classes.Length - 1}");
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

    private static void WriteAtomic(string path, byte[] bytes)
    {
        string tmp = path + $".{Environment.ProcessId}.tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}

/// <summary>Where an image-folder cache's pixels are read from once it is opened.</summary>
public enum ImageStorage
{
    /// <summary>In memory up to <see cref="ImageFolder.AutoMemoryBytes"/> of pixels, otherwise <see cref="File"/>.</summary>
    Auto,
    /// <summary>All pixels in one managed array (up to <see cref="Array.MaxLength"/> bytes).</summary>
    Memory,
    /// <summary>Positioned reads from the cache file on demand (<see cref="FilePixels"/>).</summary>
    File,
    /// <summary>A read-only memory map of the cache file (<see cref="MappedPixels"/>).</summary>
    Mapped,
}
