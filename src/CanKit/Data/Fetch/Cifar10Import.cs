namespace CanKit.Data.Fetch;

/// <summary>What an import put where: the folder, the form, and both splits as loaded once from it.</summary>
public sealed record Cifar10Imported(string Folder, Cifar10Form Form, ImageSet Train, ImageSet Test);

/// <summary>
/// Puts a local copy of CIFAR-10 into <c>&lt;data root&gt;/cifar10/</c>, where <see cref="Cifar10.Resolve"/> finds it: an
/// archive (.tar.gz, .tgz or .tar, read by <see cref="SafeTarExtractor"/>; the official <c>cifar-10-binary.tar.gz</c> or an
/// image-folder copy such as a JPEG one) or an unpacked folder (copied). In the source, CIFAR-10 is looked for in the
/// folder itself, its <c>cifar-10-batches-bin/</c>, and its only sub-folder when it has exactly one (an archive with a top
/// folder). The binary batches land in <c>cifar10/cifar-10-batches-bin/</c> (as the official archive unpacks), an image
/// folder's <c>train/</c> and <c>test/</c> in <c>cifar10/</c>.
/// <para>Everything happens in a hidden sibling <c>.cifar10-import-&lt;pid&gt;-&lt;id&gt;</c>: unpacking or copying, the form
/// check (<see cref="Cifar10.Detect"/>) and loading both splits once (which decodes an image folder into its 32-px caches).
/// Only then does the folder take its name, so an import that fails or is stopped leaves no <c>cifar10/</c> that looks
/// whole; the leftovers of one that was killed are removed by the next import into the same data root.</para>
/// </summary>
public static class Cifar10Import
{
    private const string StagingPrefix = ".cifar10-import-";

    /// <summary>
    /// Imports <paramref name="source"/> into <paramref name="dataRoot"/>'s <c>cifar10/</c>. A target that exists and is not
    /// empty is refused (an <see cref="IOException"/> naming it) unless <paramref name="replace"/>, in which case it is
    /// replaced only once the new copy is complete. A source that holds no CIFAR-10, part of a form, or both forms is an
    /// <see cref="InvalidDataException"/> naming the source; a source that is the target, holds it or lies in it is refused.
    /// <paramref name="unpacked"/> receives the bytes unpacked so far, <paramref name="decoding"/> (split, done, total).
    /// </summary>
    public static Cifar10Imported Import(string source, string dataRoot, bool replace = false, TextWriter? log = null,
                                         IProgress<long>? unpacked = null, IProgress<(string Split, int Done, int Total)>? decoding = null,
                                         CancellationToken ct = default)
    {
        source = Path.GetFullPath(source);
        dataRoot = Path.GetFullPath(dataRoot);
        string target = Path.Combine(dataRoot, Cifar10.FolderName);
        bool isFolder = Directory.Exists(source);
        if (!isFolder && !File.Exists(source)) throw new FileNotFoundException($"{source}: no such archive or folder", source);
        RefuseOverlap(source, target);
        if (HasEntries(target) && !replace)
            throw new IOException($"{target} already exists and is not empty; delete it to import again (or import with --force to replace it)");

        bool newRoot = !Directory.Exists(dataRoot);
        Directory.CreateDirectory(dataRoot);
        RemoveLeftovers(dataRoot, log);
        string staging = Path.Combine(dataRoot, $"{StagingPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        string ready = Path.Combine(staging, Cifar10.FolderName);
        Directory.CreateDirectory(staging);
        try
        {
            log?.WriteLine($"CIFAR-10: {source} → {target}");
            Cifar10Form form;
            if (isFolder)
            {
                var (found, f) = Locate(source, source);
                form = f;
                log?.WriteLine($"  copying {found} ({Describe(f)})");
                Copy(found, f == Cifar10Form.Binary ? Path.Combine(ready, Cifar10.BatchesFolder) : ready, ct);
            }
            else
            {
                string unpack = Path.Combine(staging, "unpacked");
                log?.WriteLine($"  unpacking into {staging}");
                var summary = SafeTarExtractor.Extract(source, unpack, unpacked, ct);
                log?.WriteLine($"  {summary.Files} files, {summary.Bytes / 1e6:F1} MB");
                var (found, f) = Locate(unpack, source);
                form = f;
                if (f == Cifar10Form.Binary) Directory.CreateDirectory(ready);
                Directory.Move(found, f == Cifar10Form.Binary ? Path.Combine(ready, Cifar10.BatchesFolder) : ready);
            }
            log?.WriteLine($"  {Describe(form)}; loading both splits once" + (form == Cifar10Form.ImageFolder ? " (decoding into the 32-px caches)" : ""));
            ImageSet train, test;
            try
            {
                train = Cifar10.Load(train: true, ready, Report(decoding, "train"));
                test = Cifar10.Load(train: false, ready, Report(decoding, "test"));
            }
            catch (InvalidDataException e)
            {
                // Paths inside the staging folder mean nothing once it is gone: say them relative to the data set.
                throw new InvalidDataException($"{source}: {e.Message.Replace(ready + Path.DirectorySeparatorChar, "")}; nothing was imported", e);
            }
            ct.ThrowIfCancellationRequested();
            Place(ready, target, Path.Combine(staging, "replaced"), log);
            return new Cifar10Imported(form == Cifar10Form.Binary ? Path.Combine(target, Cifar10.BatchesFolder) : target, form, train, test);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            if (newRoot && !HasEntries(dataRoot)) Directory.Delete(dataRoot);   // a refused import leaves nothing behind
        }
    }

    /// <summary>"airplane 5000, automobile 5000, …": the images of each class of <paramref name="set"/>, in label order.</summary>
    public static string PerClass(ImageSet set)
    {
        var counts = new int[set.ClassNames.Count];
        foreach (int label in set.Labels) counts[label]++;
        return string.Join(", ", set.ClassNames.Select((name, c) => $"{name} {counts[c]}"));
    }

    /// <summary>The two forms as one says them.</summary>
    public static string Describe(Cifar10Form form) =>
        form == Cifar10Form.Binary ? "the binary batches" : "an image-folder copy (train/ and test/ class folders)";

    // The folder in `dir` holding CIFAR-10 and its form; errors name `source` in place of the staging folder.
    private static (string Folder, Cifar10Form Form) Locate(string dir, string source)
    {
        var candidates = new List<string> { dir };
        var subs = Directory.GetDirectories(dir).Where(d => !Path.GetFileName(d).StartsWith('.')).ToArray();
        if (subs.Length == 1 && Directory.GetFiles(dir).Length == 0 && Path.GetFileName(subs[0]) is not ("train" or "test")) candidates.Add(subs[0]);
        foreach (string c in candidates.ToArray()) candidates.Add(Path.Combine(c, Cifar10.BatchesFolder));
        foreach (string candidate in candidates.Where(Directory.Exists))
        {
            try
            {
                if (Cifar10.Detect(candidate) is { } form) return (candidate, form);
            }
            catch (InvalidDataException e) when (dir != source)
            {
                throw new InvalidDataException($"{e.Message.Replace(dir, source, StringComparison.Ordinal)}; nothing was imported", e);
            }
        }
        string seen = string.Join(", ", Directory.EnumerateFileSystemEntries(dir).Select(e => Path.GetFileName(e) + (Directory.Exists(e) ? "/" : ""))
                                                 .Order(StringComparer.Ordinal).Take(8));
        throw new InvalidDataException($"{source}: holds no CIFAR-10 (expected the binary batches {Cifar10.BinaryFiles[0]} … " +
                                       $"{Cifar10.BinaryFiles[^1]}, or train/ and test/ class folders, at its top, in {Cifar10.BatchesFolder}/ " +
                                       $"or in its only folder; found {(seen.Length > 0 ? seen : "nothing")}); nothing was imported");
    }

    private static void RefuseOverlap(string source, string target)
    {
        string Dir(string p) => Path.TrimEndingDirectorySeparator(p) + Path.DirectorySeparatorChar;
        var cmp = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        if (Dir(source).Equals(Dir(target), cmp))
            throw new IOException($"{source}: is the target folder itself (the data root's {Cifar10.FolderName}/); it is already where it would go");
        if (Dir(source).StartsWith(Dir(target), cmp))
            throw new IOException($"{source}: lies inside the target folder {target}, which an import replaces; move it out first");
        if (Dir(target).StartsWith(Dir(source), cmp))
            throw new IOException($"{source}: holds the target folder {target}; import from the folder that holds CIFAR-10 itself");
    }

    private static bool HasEntries(string folder) => Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any();

    // The finished copy takes the target's name; a replaced target is moved aside first and put back if that fails.
    private static void Place(string ready, string target, string aside, TextWriter? log)
    {
        bool replaced = HasEntries(target);
        if (replaced) Directory.Move(target, aside);
        else if (Directory.Exists(target)) Directory.Delete(target);
        try
        {
            Directory.Move(ready, target);
        }
        catch (Exception) when (replaced)
        {
            Directory.Move(aside, target);
            throw;
        }
        if (replaced) log?.WriteLine($"  replaced the earlier {target}");
    }

    // Staging folders of imports whose process is gone (killed, or the machine stopped).
    private static void RemoveLeftovers(string dataRoot, TextWriter? log)
    {
        foreach (string dir in Directory.GetDirectories(dataRoot, StagingPrefix + "*"))
        {
            string rest = Path.GetFileName(dir)[StagingPrefix.Length..];
            if (!int.TryParse(rest.Split('-')[0], out int pid) || Running(pid)) continue;
            Directory.Delete(dir, recursive: true);
            log?.WriteLine($"  removed the leftovers of an interrupted import: {dir}");
        }
    }

    private static bool Running(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    private static void Copy(string from, string to, CancellationToken ct)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from))
        {
            ct.ThrowIfCancellationRequested();
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
        foreach (string dir in Directory.GetDirectories(from))
        {
            if (new DirectoryInfo(dir).LinkTarget is not null) continue;   // as ImageFolder: links to folders are not followed
            Copy(dir, Path.Combine(to, Path.GetFileName(dir)), ct);
        }
    }

    private static IProgress<(int done, int total)>? Report(IProgress<(string, int, int)>? decoding, string split) =>
        decoding is null ? null : new SplitProgress(decoding, split);

    private sealed class SplitProgress(IProgress<(string, int, int)> outer, string split) : IProgress<(int done, int total)>
    {
        public void Report((int done, int total) p) => outer.Report((split, p.done, p.total));
    }
}
