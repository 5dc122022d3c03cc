using System.CommandLine;
using CanKit.Data;
using CanKit.Data.Fetch;

namespace CanKit.Cli;

/// <summary>
/// `cankit data fetch` and `cankit data verify`: download (resumable), verify and extract a data set from the catalog
/// (<see cref="DatasetCatalog"/>), and check what is on disk against it.
/// </summary>
internal static partial class DataCommand
{
    private static Argument<string> DatasetArgument()
    {
        var a = new Argument<string>("dataset") { Description = string.Join(" | ", DatasetCatalog.All.Select(s => s.Id)) };
        a.AcceptOnlyFromAmong(DatasetCatalog.All.Select(s => s.Id).ToArray());
        return a;
    }

    private static Option<string?> RootOption() =>
        new("--root", "--data-root")
        {
            Description = "folder that receives the dataset (archives go to <root>/downloads); default for fashion-mnist: " +
                          $"${DataRoot.EnvironmentVariable}, else the per-user data folder ({DataRoot.UserFolder ?? "none"}); " +
                          "for cifar10: the same root's cifar10/; for the others: data",
        };

    // Fashion-MNIST and CIFAR-10 go where every command looks for them (DataRoot; CIFAR-10's batches folder under the data
    // root's cifar10/, which Cifar10.Resolve searches); the other archives keep their ./data default.
    private static string RootFor(DatasetSource source, string? given) =>
        given ?? (source.Files.Count > 0 ? DataRoot.ForFetch(null)
                  : source.Id == Cifar10.FolderName ? Path.Combine(DataRoot.ForFetch(null), Cifar10.FolderName) : "data");

    private static Command Fetch()
    {
        var dataset = DatasetArgument();
        var root = RootOption();
        var url = new Option<string?>("--url")
        {
            Description = "download from this URL instead (a mirror; for fashion-mnist the folder of its four files); " +
                          "checksums still apply",
        }.HttpUrl();
        var dropArchive = new Option<bool>("--delete-archive") { Description = "delete the downloaded archive after a successful extraction" };
        var cacheSide = new Option<int?>("--cache-side") { Description = "image datasets: also decode train/val once into an ImageFolder cache of this side" }
            .Between(1, ImageFolder.MaxSide);
        var stall = new Option<double>("--stall-timeout")
        {
            Description = "seconds without a byte from the server before an attempt is abandoned " +
                          "(two such attempts in a row end the download)",
            DefaultValueFactory = _ => 30,
        }.PositiveFinite();
        var cmd = new Command("fetch", "download (resumable), verify and safely extract a dataset") { dataset, root, url, dropArchive, cacheSide, stall };
        cmd.SetAction(async (r, ct) =>
        {
            var source = DatasetCatalog.Find(r.GetValue(dataset)!);
            if (r.GetValue(url) is { } mirror) source = source with { Url = new Uri(mirror) };
            return await Cli.GuardAsync(async () =>
            {
                using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };  // per-read stall timeouts bound the waits
                var console = StatusLine.ForConsole();
                var fetcher = new DatasetFetcher(new Downloader(http) { IdleTimeout = TimeSpan.FromSeconds(r.GetValue(stall)) }, console.Writer);
                string dir = RootFor(source, r.GetValue(root));
                string folder = await fetcher.FetchAsync(source, dir, keepArchive: !r.GetValue(dropArchive), new ConsoleProgress(console), ct);
                Console.WriteLine($"{source.Title} ready in {folder}");
                if (r.GetValue(cacheSide) is int side && source.Layout.ImageCounts.Count > 0)
                    foreach (string split in new[] { "train", "val" }.Where(s => Directory.Exists(Path.Combine(folder, s))))
                        BuildCache(Path.Combine(folder, split), side);
                return 0;
            });
        });
        return cmd;
    }

    private static Command Verify()
    {
        var dataset = DatasetArgument();
        var root = RootOption();
        var cmd = new Command("verify", "check a fetched dataset: archive checksums (when the archive is kept) and the extracted files") { dataset, root };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var source = DatasetCatalog.Find(r.GetValue(dataset)!);
            if (source.Id == DatasetCatalog.Cifar10.Id && VerifyCifar10Copy(r.GetValue(root)) is int copy) return copy;
            string dir = Path.GetFullPath(RootFor(source, r.GetValue(root)));
            int bad = 0;
            string archive = Path.Combine(dir, "downloads", source.ArchiveName);
            foreach (var (path, problem) in DatasetFetcher.VerifyFiles(source, dir))
            {
                Console.WriteLine(problem is null ? $"ok    {path}" : $"BAD   {path}: {problem}");
                if (problem != null) bad++;
            }
            if (source.Files.Count > 0) Console.WriteLine($"      ({source.ChecksumNote})");
            else if (File.Exists(archive))
            {
                string? problem = Downloader.Verify(archive, source.Expected);
                Console.WriteLine(problem is null ? $"ok    {archive} ({source.ChecksumNote})" : $"BAD   {archive}: {problem}");
                Console.WriteLine($"      SHA-256 {Downloader.Sha256Of(archive)}");
                if (problem != null) bad++;
            }
            else Console.WriteLine($"-     {archive} not kept; checking the extracted files only");
            var problems = source.Files.Count > 0 ? [] : DatasetFetcher.CheckLayout(source, dir);   // plain files: checked above
            foreach (string p in problems) Console.WriteLine($"BAD   {p}");
            bad += problems.Count;
            if (problems.Count == 0 && (source.Files.Count == 0 || bad == 0))
                Console.WriteLine($"ok    {Path.Combine(dir, source.Folder)} has the expected files");
            if (bad == 0 && source.Id == DatasetCatalog.FashionMnist.Id)
            {
                string folder = Path.Combine(dir, source.Folder);
                var (train, test) = (FashionMnist.Load(true, folder), FashionMnist.Load(false, folder));
                Console.WriteLine($"ok    loads: {train.Count} train / {test.Count} test images, {FashionMnist.ClassNames.Length} classes");
            }
            if (problems.Count == 0 && source.Id.StartsWith("cifar"))
            {
                string folder = Path.Combine(dir, source.Folder);
                var (train, test) = source.Id == "cifar10"
                    ? (CifarBinary.LoadCifar10(folder, true), CifarBinary.LoadCifar10(folder, false))
                    : (CifarBinary.LoadCifar100(folder, true), CifarBinary.LoadCifar100(folder, false));
                Console.WriteLine($"ok    loads: {train.Count} train / {test.Count} test images, {train.ClassNames.Count} classes");
            }
            if (bad > 0)
                Console.Error.WriteLine($"{bad} problem(s); fetch again with `cankit data fetch {source.Id}` " +
                                        "or data-scripts/ (data-scripts/README.md)");
            return bad == 0 ? 0 : 1;
        }));
        return cmd;
    }

    // The download as the status line (in place on a terminal, a plain line every few seconds in a log).
    private sealed class ConsoleProgress(StatusLine console) : IProgress<DownloadProgress>
    {
        private readonly StatusLine _console = console;

        public void Report(DownloadProgress p)
        {
            string resumed = p.Resumed ? " resumed" : "";
            if (p.Total is long t && t > 0)
                _console.Status($"{p.Bytes / 1e6:F1} / {t / 1e6:F1} MB ({100.0 * p.Bytes / t:F0}%){resumed}", final: p.Bytes >= t);
            else _console.Status($"{p.Bytes / 1e6:F1} MB{resumed}");
        }
    }
}
