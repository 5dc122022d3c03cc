using System.Text.RegularExpressions;

namespace CanKit.Data.Fetch;

/// <summary>How <see cref="ImageNetSubset"/> puts files into the subset.</summary>
public enum SubsetLinkMode
{
    /// <summary>Symbolic links to the original files (no extra space; the ImageNet copy must stay).</summary>
    Symlink,
    /// <summary>Hard links (no extra space; same file system only).</summary>
    Hardlink,
    /// <summary>Independent copies.</summary>
    Copy,
}

/// <summary>
/// Builds an ImageNet subset (e.g. ImageNet-100) in the <see cref="ImageFolder"/> layout from a local ImageNet copy
/// (<c>train/&lt;wnid&gt;/*.JPEG</c>, and <c>val/&lt;wnid&gt;/</c> when val is sorted into class folders) and a class list
/// (one WordNet id per line; blank lines and <c>#</c> comments ignored). Re-running skips files already in place.
/// </summary>
public static partial class ImageNetSubset
{
    [GeneratedRegex(@"^n\d{8}$")]
    private static partial Regex Wnid();

    public static IReadOnlyList<string> ReadClassList(string path)
    {
        var ids = new List<string>();
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Split('#')[0].Trim();
            if (line.Length == 0) continue;
            string id = line.Split((char[])[' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries)[0];
            if (!Wnid().IsMatch(id)) throw new InvalidDataException($"{path}:{i + 1}: '{id}' is not a WordNet id like n01440764");
            if (ids.Contains(id)) throw new InvalidDataException($"{path}:{i + 1}: {id} is listed twice");
            ids.Add(id);
        }
        if (ids.Count == 0) throw new InvalidDataException($"{path}: no class ids");
        return ids;
    }

    /// <summary>Returns files linked/copied per split; progress reports (classes done, classes total).</summary>
    public static IReadOnlyDictionary<string, int> Build(string imagenet, string classListFile, string output, SubsetLinkMode mode = SubsetLinkMode.Symlink,
                                                         IProgress<(int done, int total)>? progress = null, TextWriter? log = null)
    {
        imagenet = Path.GetFullPath(imagenet);
        output = Path.GetFullPath(output);
        var classes = ReadClassList(classListFile);
        var splits = new[] { "train", "val" }.Where(s => Directory.Exists(Path.Combine(imagenet, s))).ToList();
        if (!splits.Contains("train"))
            throw new DirectoryNotFoundException($"{imagenet}/train not found: expected an ImageNet copy with train/<wnid>/ folders");
        if (splits.Contains("val") && !classes.Any(c => Directory.Exists(Path.Combine(imagenet, "val", c))))
        {
            log?.WriteLine($"{imagenet}/val is not sorted into class folders; only train is used");
            splits.Remove("val");
        }
        var missing = classes.Where(c => !Directory.Exists(Path.Combine(imagenet, "train", c))).ToList();
        if (missing.Count > 0)
            throw new DirectoryNotFoundException($"{missing.Count} class(es) from {classListFile} are not in {imagenet}/train, " +
                                                 $"e.g. {string.Join(", ", missing.Take(5))}");

        var counts = splits.ToDictionary(s => s, _ => 0);
        int done = 0, total = classes.Count * splits.Count;
        foreach (string split in splits)
            foreach (string wnid in classes)
            {
                string from = Path.Combine(imagenet, split, wnid), to = Path.Combine(output, split, wnid);
                if (!Directory.Exists(from)) throw new DirectoryNotFoundException($"{from} not found");
                Directory.CreateDirectory(to);
                foreach (string f in Directory.EnumerateFiles(from).Order(StringComparer.Ordinal))
                {
                    string dest = Path.Combine(to, Path.GetFileName(f));
                    if (!File.Exists(dest) && new FileInfo(dest).LinkTarget is null) Place(f, dest, mode);  // also skips a dangling link
                    counts[split]++;
                }
                progress?.Report((++done, total));
            }
        File.Copy(classListFile, Path.Combine(output, "classes.txt"), overwrite: true);
        return counts;
    }

    private static void Place(string source, string dest, SubsetLinkMode mode)
    {
        switch (mode)
        {
            case SubsetLinkMode.Symlink: File.CreateSymbolicLink(dest, source); break;
            case SubsetLinkMode.Copy: File.Copy(source, dest); break;
            case SubsetLinkMode.Hardlink:
                if (link(source, dest) != 0)
                    throw new IOException($"cannot hard-link {source} to {dest} " +
                                          $"(errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}); " +
                                          "use --mode copy or symlink across file systems");
                break;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int link(string oldpath, string newpath);
}
