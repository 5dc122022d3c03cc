using System.CommandLine;
using CanKit.Data;
using CanKit.Data.Fetch;

namespace CanKit.Cli;

/// <summary>
/// `cankit data`: fetch (download, verify, extract) Fashion-MNIST, CIFAR-10/100 and Imagenette, verify what is on disk, import
/// a local copy of CIFAR-10, build ImageNet subsets, and pre-build ImageFolder caches. The data-scripts/*.sh wrappers call these.
/// </summary>
internal static partial class DataCommand
{
    public static Command Create()
    {
        var cmd = new Command("data", "download, verify and prepare datasets (see data-scripts/README.md)");
        cmd.Subcommands.Add(Fetch());
        cmd.Subcommands.Add(Verify());
        cmd.Subcommands.Add(Import());
        cmd.Subcommands.Add(Subset());
        cmd.Subcommands.Add(Cache());
        cmd.Subcommands.Add(Synthesize());
        return cmd;
    }

    private static Command Subset()
    {
        var imagenet = new Option<string>("--imagenet")
        {
            Description = "local ImageNet copy with train/<wnid>/ (and optionally val/<wnid>/)",
            Required = true,
        };
        var classes = new Option<string>("--classes") { Description = "class list: one WordNet id per line (e.g. ImageNet-100)", Required = true };
        var output = new Option<string>("--out") { Description = "output folder (ImageFolder layout: <out>/train/<wnid>/...)", Required = true };
        var mode = new Option<SubsetLinkMode>("--mode") { Description = "symlink | hardlink | copy", DefaultValueFactory = _ => SubsetLinkMode.Symlink };
        var cmd = new Command("imagenet-subset", "link or copy chosen ImageNet classes into an ImageFolder layout") { imagenet, classes, output, mode };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var console = StatusLine.ForConsole();
            var counts = ImageNetSubset.Build(r.GetValue(imagenet)!, r.GetValue(classes)!, r.GetValue(output)!, r.GetValue(mode),
                                              console.StatusOf<(int done, int total)>(p => $"classes {p.done}/{p.total}", p => p.done >= p.total),
                                              console.Writer);
            foreach (var (split, n) in counts) Console.WriteLine($"{split}: {n} images");
            return 0;
        }));
        return cmd;
    }

    private static Command Cache()
    {
        var folder = new Argument<string>("folder") { Description = "ImageFolder root (class sub-folders of JPEG/PNG files)" };
        var side = new Option<int>("--side")
        {
            Description = "square side of the cached images",
            DefaultValueFactory = _ => 64,
        }.Between(1, ImageFolder.MaxSide);
        var rebuild = new Option<bool>("--rebuild") { Description = "start over, even when a finished or interrupted cache exists" };
        var verify = new Option<bool>("--verify") { Description = "read the finished cache back and check it against the checksums in its index" };
        var cmd = new Command("cache", "decode an image folder once into its packed cache (an interrupted build continues where it stopped)")
            { folder, side, rebuild, verify };
        cmd.SetAction((r, ct) => Task.FromResult(Cli.Guard(() =>
        {
            string root = r.GetValue(folder)!;
            int s = r.GetValue(side);
            BuildCache(root, s, r.GetValue(rebuild), ct);
            if (r.GetValue(verify))
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                ImageFolder.VerifyCache(root, s);
                Console.WriteLine($"ok    {ImageFolder.CachePath(Path.GetFullPath(root), s)} " +
                                  $"matches the checksums of its index ({clock.Elapsed.TotalSeconds:F1} s)");
            }
            return 0;
        })));
        return cmd;
    }

    private static Command Synthesize()
    {
        var output = new Option<string>("--out") { Description = "output folder (receives train/<class>/ and val/<class>/)", Required = true };
        var classes = new Option<int>("--classes") { Description = "classes", DefaultValueFactory = _ => 100 }.Between(1, 100_000);
        var train = new Option<int>("--train-per-class") { Description = "training images per class", DefaultValueFactory = _ => 260 }.Between(1, 1_000_000);
        var val = new Option<int>("--val-per-class") { Description = "validation images per class", DefaultValueFactory = _ => 10 }.Between(0, 1_000_000);
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var distinct = new Option<int>("--distinct")
        {
            Description = "encode only this many different images and repeat their bytes over the files (0: every file its own)",
            DefaultValueFactory = _ => 0,
        }.Between(0, int.MaxValue);
        var cmd = new Command("synthesize", "write an ImageNet-layout folder of synthetic JPEGs (ImageNet-like sizes, ~110 KB each) " +
                                            "for measuring the data path")
            { output, classes, train, val, seed, distinct };
        cmd.SetAction((r, ct) => Task.FromResult(Cli.Guard(() =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long bytes = SyntheticImageFolder.Write(r.GetValue(output)!, r.GetValue(classes), r.GetValue(train), r.GetValue(val),
                r.GetValue(seed), distinct: r.GetValue(distinct),
                progress: StatusLine.ForConsole().StatusOf<(int done, int total)>(p => $"written {p.done}/{p.total}", p => p.done >= p.total),
                cancel: ct);
            Console.WriteLine($"{Path.GetFullPath(r.GetValue(output)!)}: {bytes / 1e9:F2} GB of JPEG in {clock.Elapsed.TotalSeconds:F0} s");
            return 0;
        })));
        return cmd;
    }

    // Builds (or continues) the cache of one folder, unless a finished one is there and rebuild is not asked for.
    private static void BuildCache(string folder, int side, bool rebuild = false, CancellationToken cancel = default)
    {
        string root = Path.GetFullPath(folder);
        if (!rebuild && File.Exists(ImageFolder.IndexPath(root, side)) && File.Exists(ImageFolder.CachePath(root, side)))
        {
            using var store = ImageFolder.Open(root, side, ImageStorage.File).Storage;
            Console.WriteLine($"{root}: the cache at side {side} is complete ({store.Length / 1e9:F2} GB in {store.Source})");
            return;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int? first = null;
        var console = StatusLine.ForConsole();
        var summary = ImageFolder.BuildCache(folder, side, progress: console.StatusOf<(int done, int total)>(p =>
        {
            first ??= p.done;
            if (first > 0 && p.done == first) console.Line($"  resuming an interrupted build at image file {p.done}/{p.total}");
            double rate = (p.done - first.Value) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            string eta = rate > 0 ? $", about {StatusLine.Duration((p.total - p.done) / rate)} left" : "";
            return $"decoded {p.done}/{p.total} ({rate:F0} images/s{eta})";
        }, p => p.done >= p.total), rebuild: rebuild, cancel: cancel);
        console.EndStatus();
        Console.WriteLine(summary);
        foreach (var s in summary.Skipped.Take(20)) Console.WriteLine($"  skipped {s.Path}: {s.Reason}");
        foreach (var link in (summary.SkippedFolderLinks ?? []).Take(20)) Console.Error.WriteLine($"warning: link to a folder not followed: {link}");
    }
}
