namespace CanKit.Data.Fetch;

/// <summary>
/// Download → verify → safe extraction → layout check for one <see cref="DatasetSource"/>, resumable at every
/// step: the archive goes to <c>root/downloads/</c> (resumed from its <c>.part</c>), a dataset whose layout already
/// checks out is left alone, and a finished extraction is marked so a re-run skips it. A data set of plain files
/// (<see cref="DatasetSource.Files"/>) is downloaded file by file into its folder, each verified before it takes its
/// name, so a file under its final name is always a verified one and a re-run fetches only what is missing.
/// </summary>
public sealed class DatasetFetcher(Downloader downloader, TextWriter? log = null)
{
    public async Task<string> FetchAsync(DatasetSource source, string root, bool keepArchive = true, IProgress<DownloadProgress>? progress = null,
                                         CancellationToken ct = default)
    {
        root = Path.GetFullPath(root);
        string folder = Path.Combine(root, source.Folder);
        if (CheckLayout(source, root).Count == 0)
        {
            log?.WriteLine($"{source.Title}: already in {folder}");
            return folder;
        }
        if (source.Files.Count > 0) return await FetchFilesAsync(source, root, folder, progress, ct);
        string archive = Path.Combine(root, "downloads", source.ArchiveName);
        log?.WriteLine($"{source.Title}: {source.Url} → {archive}");
        bool fetched = await downloader.DownloadAsync(source.Url, archive, source.Expected, progress, ct);
        log?.WriteLine(fetched ? $"  downloaded and verified ({source.ChecksumNote})" : "  archive already present and verified");
        log?.WriteLine($"  extracting into {root}");
        var summary = SafeTarExtractor.Extract(archive, root, ct: ct);
        log?.WriteLine($"  {summary.Files} files, {summary.Bytes / 1e6:F1} MB" +
                       (summary.SkippedLinks.Count > 0 ? $", {summary.SkippedLinks.Count} links skipped" : ""));
        var problems = CheckLayout(source, root);
        if (problems.Count > 0)
            throw new InvalidDataException($"{source.Title} in {root} does not have the expected layout after extraction: {string.Join("; ", problems)}");
        if (!keepArchive) File.Delete(archive);
        return folder;
    }

    private async Task<string> FetchFilesAsync(DatasetSource source, string root, string folder, IProgress<DownloadProgress>? progress,
                                               CancellationToken ct)
    {
        log?.WriteLine($"{source.Title}: {source.Url} → {folder}");
        var baseUrl = source.Url.AbsoluteUri.EndsWith('/') ? source.Url : new Uri(source.Url.AbsoluteUri + "/");
        foreach (var file in source.Files)
        {
            var url = new Uri(baseUrl, file.Name);
            bool fetched = await downloader.DownloadAsync(url, Path.Combine(folder, file.Name), file.Expected, progress, ct);
            log?.WriteLine($"  {file.Name}: {(fetched ? "downloaded and verified" : "already present and verified")}");
        }
        log?.WriteLine($"  checksums: {source.ChecksumNote}");
        var problems = CheckLayout(source, root);
        if (problems.Count > 0)
            throw new InvalidDataException($"{source.Title} in {root} is incomplete after the download: {string.Join("; ", problems)}");
        return folder;
    }

    /// <summary>
    /// Each plain file of <paramref name="source"/> under <paramref name="root"/> against its checksums: (path, null when it
    /// matches, else what differs). Empty for an archive.
    /// </summary>
    public static List<(string Path, string? Problem)> VerifyFiles(DatasetSource source, string root) =>
        source.Files.Select(f => Path.Combine(Path.GetFullPath(root), source.Folder, f.Name))
              .Zip(source.Files, (path, f) => (path, File.Exists(path) ? Downloader.Verify(path, f.Expected) : "is missing"))
              .ToList();

    /// <summary>Differences between what is under <paramref name="root"/> and the source's expected layout (empty: all good).</summary>
    public static List<string> CheckLayout(DatasetSource source, string root)
    {
        var problems = new List<string>();
        foreach (var (file, size) in source.Layout.Files)
        {
            string path = Path.Combine(root, file);
            if (!File.Exists(path)) problems.Add($"{path} is missing");
            else if (size is long s && new FileInfo(path).Length != s) problems.Add($"{path} has {new FileInfo(path).Length} bytes, expected {s}");
        }
        foreach (var (dir, count) in source.Layout.ImageCounts)
        {
            string path = Path.Combine(root, dir);
            if (!Directory.Exists(path)) { problems.Add($"{path} is missing"); continue; }
            int n = ImageFolder.ImageFiles(path).Count;
            if (n != count) problems.Add($"{path} has {n} images, expected {count}");
        }
        return problems;
    }
}
