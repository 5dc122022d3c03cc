using System.Text.Json;

namespace CanKit.Data;

/// <summary>An image that could not be decoded, and why.</summary>
public sealed record SkippedImage(string Path, string Reason);

/// <summary>
/// What one
/// <see cref="ImageFolder.Load(string, int, out ImageFolderSummary, bool, IProgress{ValueTuple{int, int}}?, bool, ImageStorage, CancellationToken)"/>
/// or <see cref="ImageFolder.BuildCache"/> did.
/// </summary>
public sealed record ImageFolderSummary(string Root, int Images, int Classes, IReadOnlyList<SkippedImage> Skipped, bool FromCache, string CachePath,
                                        IReadOnlyList<string>? SkippedFolderLinks = null, int ResumedAtFile = 0)
{
    public override string ToString() =>
        $"{Root}: {Images} images in {Classes} classes" +
        (FromCache ? $" (from cache {CachePath})"
                   : (ResumedAtFile > 0 ? $", cached to {CachePath} (resumed at file {ResumedAtFile})" : $", cached to {CachePath}")) +
        (Skipped.Count == 0 ? "" : $"; {Skipped.Count} unreadable image(s) skipped, first: {Skipped[0].Path}: {Skipped[0].Reason}") +
        (SkippedFolderLinks is not { Count: > 0 } links ? ""
            : $"; warning: {links.Count} link(s) to folders not followed " +
              $"(a loop or a link into another class would duplicate and mislabel images), first: {links[0]}");
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
public static partial class ImageFolder
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

    private sealed record CacheIndex(int Version, int Side, int Channels, int Count, string[] Classes, long BinBytes,
                                     SkippedImage[] Skipped, CacheChunk[]? Chunks = null);

    // Where an unfinished build stands: files [0, Done) of the listing are decoded, their kept pixels committed (flushed)
    // to the partial file as Chunks; a build of the same listing, side and chunk size continues from there.
    private sealed record BuildProgress(int Version, int Side, string Listing, int Files, int ChunkFiles,
                                        int Done, SkippedImage[] Skipped, CacheChunk[] Chunks);

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
        if (classes.Count == 0)
            throw new InvalidDataException($"{root}: no class sub-folders" +
                                           (links.Count > 0 ? $" (links to folders are not followed: {links[0]})" : ""));
        var files = new List<(string Path, int Label)>();
        for (int c = 0; c < classes.Count; c++)
        {
            var found = ImageFiles(Path.Combine(root, classes[c]), links);
            // As torchvision's ImageFolder: an empty class would still take a label and a logit, and never be seen.
            if (found.Count == 0)
                throw new InvalidDataException($"{Path.Combine(root, classes[c])}: " +
                                               $"class folder has no {string.Join("/", Extensions)} files; remove it or add its images");
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
