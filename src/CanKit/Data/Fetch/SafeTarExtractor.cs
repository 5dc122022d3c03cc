using System.Formats.Tar;
using System.IO.Compression;

namespace CanKit.Data.Fetch;

/// <summary>What an extraction wrote.</summary>
public sealed record ExtractionSummary(int Files, int Directories, long Bytes, IReadOnlyList<string> SkippedLinks);

/// <summary>
/// Extracts a .tar or .tar.gz/.tgz so that nothing can land outside the target folder. The archive is rejected
/// (<see cref="InvalidDataException"/> naming the entry) when an entry has an absolute path, a <c>..</c> segment,
/// or is a symbolic or hard link whose target leaves the folder, or is a device/FIFO. Symbolic links that stay
/// inside are skipped and listed (dataset archives have none, and never creating links means no later entry can
/// be written through one); hard links inside become copies. Entries are first written into a staging folder
/// inside the target and moved into place only when the whole archive passed, so a rejected archive leaves no
/// files behind.
/// </summary>
public static class SafeTarExtractor
{
    public static ExtractionSummary Extract(string archive, string target, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        target = Path.GetFullPath(target);
        Directory.CreateDirectory(target);
        string staging = Path.Combine(target, $".extract-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            ExtractionSummary summary;
            try
            {
                summary = ExtractInto(archive, staging, progress, ct);
            }
            catch (Exception e) when (e is EndOfStreamException or FormatException ||
                                      e is InvalidDataException && !e.Message.StartsWith(archive, StringComparison.Ordinal))
            {
                // A cut or corrupt archive (the gzip or tar reader's own message does not say which file).
                throw new InvalidDataException($"{archive}: not a readable tar or tar.gz archive ({e.Message.Split('\n')[0]}). " +
                                               "Nothing from this archive was kept.", e);
            }
            foreach (string entry in Directory.EnumerateFileSystemEntries(staging))
                MoveMerge(entry, Path.Combine(target, Path.GetFileName(entry)));
            return summary;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static ExtractionSummary ExtractInto(string archive, string root, IProgress<long>? progress, CancellationToken ct)
    {
        using var file = File.OpenRead(archive);
        bool gzip = file.ReadByte() == 0x1F && file.ReadByte() == 0x8B;
        file.Position = 0;
        using Stream data = gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new TarReader(data);
        int files = 0, dirs = 0;
        long bytes = 0;
        var skipped = new List<string>();
        TarEntry? entry;
        string? last = null;
        while ((entry = NextEntry(reader, archive, last)) != null)
        {
            ct.ThrowIfCancellationRequested();
            string name = last = entry.Name;
            string path = Resolve(archive, root, name, name);
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(path);
                    dirs++;
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    using (var output = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None))
                        CopyData(entry, output, archive);
                    files++;
                    bytes += entry.Length;
                    progress?.Report(bytes);
                    break;
                case TarEntryType.SymbolicLink:
                {
                    // A link target is relative to the link's own folder (or absolute).
                    string linkDir = Path.GetDirectoryName(name.TrimEnd('/')) ?? "";
                    string linkTarget = entry.LinkName;
                    if (Path.IsPathRooted(linkTarget) || linkTarget.StartsWith('\\'))
                        throw Reject(archive, name, $"symbolic link to the absolute path {linkTarget}");
                    Resolve(archive, root, Path.Combine(linkDir, linkTarget), name, allowDotDot: true);
                    skipped.Add($"{name} -> {linkTarget}");
                    break;
                }
                case TarEntryType.HardLink:
                {
                    // Hard-link names are relative to the archive root and must name an entry extracted earlier.
                    string source = Resolve(archive, root, entry.LinkName, name);
                    if (!File.Exists(source)) throw Reject(archive, name, $"hard link to {entry.LinkName}, which is not an earlier file in the archive");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.Copy(source, path, overwrite: true);
                    files++;
                    break;
                }
                case TarEntryType.GlobalExtendedAttributes or TarEntryType.ExtendedAttributes or TarEntryType.LongPath or TarEntryType.LongLink:
                    break;  // metadata records (normally consumed by TarReader)
                default:
                    throw Reject(archive, name, $"unsupported entry type {entry.EntryType}");
            }
        }
        return new ExtractionSummary(files, dirs, bytes, skipped);
    }

    // The next entry; a header the reader cannot parse (a size or checksum field that is not a number, a cut header) is
    // named by where it is: after the last entry read.
    private static TarEntry? NextEntry(TarReader reader, string archive, string? last)
    {
        try { return reader.GetNextEntry(); }
        catch (Exception e) when (last is not null && e is EndOfStreamException or FormatException or InvalidDataException)
        {
            // (Before the first entry the file may be no tar at all: the caller says so.)
            throw new InvalidDataException($"{archive}: the header after entry '{last}' is damaged ({e.Message.Split('\n')[0]}); " +
                                           "the archive is cut or corrupt", e);
        }
    }

    // An entry's data; one that declares more bytes than the archive holds is named with its declared size.
    private static void CopyData(TarEntry entry, Stream output, string archive)
    {
        long written = 0;
        try
        {
            if (entry.DataStream is not { } data) return;
            var buffer = new byte[1 << 16];
            for (int n; (n = data.Read(buffer)) > 0; written += n) output.Write(buffer, 0, n);
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or InvalidDataException)
        {
            throw new InvalidDataException($"{archive}: entry '{entry.Name}' declares {entry.Length} bytes, but the archive ends after " +
                                           $"{written} of them ({e.Message.Split('\n')[0]})", e);
        }
        if (written != entry.Length)
            throw new InvalidDataException($"{archive}: entry '{entry.Name}' declares {entry.Length} bytes, but the archive ends after {written} of them");
    }

    // The full path of an archive name under root, or a rejection naming the entry.
    private static string Resolve(string archive, string root, string name, string entryName, bool allowDotDot = false)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('\0')) throw Reject(archive, entryName, "empty or NUL in the name");
        if (Path.IsPathRooted(name) || name.StartsWith('/') || name.StartsWith('\\') || (name.Length > 1 && name[1] == ':'))
            throw Reject(archive, entryName, "absolute path");
        var parts = name.Split('/', '\\');
        if (!allowDotDot && parts.Contains("..")) throw Reject(archive, entryName, "a '..' path segment");
        string full = Path.GetFullPath(Path.Combine(root, name));
        string rootWithSep = root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar;
        if (full != root && !full.StartsWith(rootWithSep, StringComparison.Ordinal))
            throw Reject(archive, entryName, $"it points outside the target folder ({full})");
        return full;
    }

    private static InvalidDataException Reject(string archive, string entry, string why) =>
        new($"{archive}: unsafe entry '{entry}' rejected: {why}. Nothing from this archive was kept.");

    // Moves a staged file or folder into place, merging into folders that already exist (a re-extraction).
    private static void MoveMerge(string from, string to)
    {
        if (File.Exists(from)) { File.Move(from, to, overwrite: true); return; }
        if (!Directory.Exists(to)) { Directory.Move(from, to); return; }
        foreach (string child in Directory.EnumerateFileSystemEntries(from))
            MoveMerge(child, Path.Combine(to, Path.GetFileName(child)));
    }
}
