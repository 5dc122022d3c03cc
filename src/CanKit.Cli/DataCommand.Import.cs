using System.CommandLine;
using CanKit.Data;
using CanKit.Data.Fetch;

namespace CanKit.Cli;

/// <summary>
/// `cankit data import cifar10 SOURCE`: a local copy of CIFAR-10 (an archive or a folder, in either form) into the data
/// root's <c>cifar10/</c>, where every command finds it without flags (<see cref="Cifar10Import"/>); and what
/// `cankit data verify cifar10` says of an image-folder copy.
/// </summary>
internal static partial class DataCommand
{
    private static Command Import()
    {
        var dataset = new Argument<string>("dataset") { Description = Cifar10.FolderName };
        dataset.AcceptOnlyFromAmong(Cifar10.FolderName);
        var source = new Argument<string>("source")
        {
            Description = "a .tar.gz/.tgz/.tar archive (the official cifar-10-binary.tar.gz or an image-folder copy with " +
                          "train/<class>/ and test/<class>/) or an unpacked folder",
        };
        source.Validators.Add(result =>
        {
            string? v = result.GetValueOrDefault<string>();
            if (v is not null && !File.Exists(v) && !Directory.Exists(v)) result.AddError($"source: no such archive or folder: '{v}'");
        });
        var root = new Option<string?>("--data-root", "--root")
        {
            Description = $"data root that receives cifar10/; default: ${DataRoot.EnvironmentVariable}, else the per-user data folder " +
                          $"({DataRoot.UserFolder ?? "none"}), where every command looks without --data-root",
        }.Must(v => v is null || !File.Exists(v), "is a file; expected a folder");
        var force = new Option<bool>("--force") { Description = "replace an existing, non-empty cifar10/ (only once the new copy is complete)" };
        var cmd = new Command("import", "put a local copy of CIFAR-10 (archive or folder, binary batches or image folders) into the data root, " +
                                        "check its form and decode it once")
            { dataset, source, root, force };
        cmd.SetAction((r, ct) => Task.FromResult(Cli.Guard(() =>
        {
            string? given = r.GetValue(root);
            string dataRoot = DataRoot.ForFetch(given);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var console = new ProgressLines();   // ends a progress line before an error is printed
            var result = Cifar10Import.Import(r.GetValue(source)!, dataRoot, r.GetValue(force), console, console, console, ct);
            PrintSplits(result.Train, result.Test);
            Console.WriteLine($"CIFAR-10 ready in {result.Folder}: {Cifar10Import.Describe(result.Form)} ({clock.Elapsed.TotalSeconds:F0} s)");
            if (given is not null && dataRoot != SafeDefaultRoot())
                Console.WriteLine($"  commands find it with --data-root {dataRoot} (or with {DataRoot.EnvironmentVariable}={dataRoot})");
            return 0;
        })));
        return cmd;
    }

    // One line per split: images and each class's count; a note where they are not the official ones.
    private static bool PrintSplits(ImageSet train, ImageSet test)
    {
        bool official = true;
        foreach (var (split, set, expected) in new[] { ("train", train, Cifar10.TrainCount), ("test", test, Cifar10.TestCount) })
        {
            Console.WriteLine($"{split}: {set.Count} images, {set.Height}×{set.Width}×{set.Channels}; {Cifar10Import.PerClass(set)}");
            official &= set.Count == expected && set.ClassNames.Count == Cifar10.ClassNames.Length &&
                        set.Labels.CountBy(l => l).All(kv => kv.Value == expected / Cifar10.ClassNames.Length);
        }
        if (!official)
            Console.WriteLine($"note: the official CIFAR-10 has {Cifar10.TrainCount} train and {Cifar10.TestCount} test images " +
                              $"({Cifar10.TrainCount / 10} and {Cifar10.TestCount / 10} per class)");
        return official;
    }

    /// <summary>
    /// `cankit data verify cifar10` where CIFAR-10 is found (<see cref="Cifar10.Resolve"/>) as an image-folder copy: it has no
    /// checksums (it is a re-encoded copy), so the check is its form, that both splits load, and the official counts.
    /// Null where no image-folder copy is found (the binary checks run as before).
    /// </summary>
    private static int? VerifyCifar10Copy(string? given)
    {
        (string Folder, Cifar10Form Form) found;
        try { found = Cifar10.Resolve(given); }
        catch (DirectoryNotFoundException) { return null; }
        if (found.Form != Cifar10Form.ImageFolder) return null;
        Console.WriteLine($"ok    {found.Folder}: {Cifar10Import.Describe(found.Form)}; no checksums (a re-encoded copy, not the original batches)");
        using var console = new ProgressLines();
        var (train, test) = (Cifar10.Load(true, given, console.For("train")), Cifar10.Load(false, given, console.For("test")));
        Console.WriteLine($"ok    loads: {train.Count} train / {test.Count} test images, {train.ClassNames.Count} classes");
        if (PrintSplits(train, test)) return 0;
        Console.Error.WriteLine($"{found.Folder} does not hold the official counts; import the copy again with `cankit data import cifar10 ARCHIVE --force`");
        return 1;
    }

    private static string? SafeDefaultRoot()
    {
        try { return DataRoot.ForFetch(null); }
        catch (DirectoryNotFoundException) { return null; }
    }

    /// <summary>
    /// The import's console (<see cref="StatusLine"/>): progress as the status (megabytes unpacked, images decoded per split,
    /// one update per megabyte or percent), and log lines that start on a line of their own.
    /// </summary>
    private sealed class ProgressLines : TextWriter, IProgress<long>, IProgress<(string Split, int Done, int Total)>
    {
        private readonly StatusLine _console = StatusLine.ForConsole();
        private long _shown = -1;

        public override System.Text.Encoding Encoding => Console.Out.Encoding;

        public override void WriteLine(string? value)
        {
            _shown = -1;
            _console.Line(value ?? "");
        }

        public void Report(long bytes)
        {
            if (bytes >> 20 == _shown) return;
            _shown = bytes >> 20;
            _console.Status($"unpacked {bytes / 1e6:F0} MB");
        }

        public void Report((string Split, int Done, int Total) p)
        {
            int percent = (int)(100L * p.Done / Math.Max(1, p.Total));
            if (percent == _shown && p.Done < p.Total) return;
            _shown = percent;
            _console.Status($"decoding {p.Split}: {p.Done}/{p.Total} ({percent}%)", final: p.Done >= p.Total);
            if (p.Done >= p.Total) _shown = -1;
        }

        protected override void Dispose(bool disposing)
        {
            EndLine();
            base.Dispose(disposing);
        }

        /// <summary>The decoding of one split, as a loader reports it.</summary>
        public IProgress<(int done, int total)> For(string split) => new Split(this, split);

        private void EndLine()
        {
            _console.EndStatus();
            _shown = -1;
        }

        private sealed class Split(ProgressLines lines, string split) : IProgress<(int done, int total)>
        {
            public void Report((int done, int total) p) => lines.Report((split, p.done, p.total));
        }
    }
}
