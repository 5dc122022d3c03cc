using CanKit.Data;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// Where a real copy of CIFAR-10 is for the tests: <c>$CANKIT_CIFAR10</c> when set (a folder with <c>train/</c> and <c>test/</c>,
/// or an archive), else the JPEG copy at <c>../shared/data/cifar10-jpg.tar.gz</c> beside the repository.
/// </summary>
internal static class RealCifar10Copy
{
    public const string Variable = "CANKIT_CIFAR10";

    public static string Shared => Path.GetFullPath(Path.Combine(RepoPaths.Root(), "..", "shared", "data", "cifar10-jpg.tar.gz"));

    /// <summary>The copy, or null and where it was looked for. A variable that is set is used alone, as a given data root is.</summary>
    public static (string? Source, string Looked) Locate()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } env)
            return File.Exists(env) || Directory.Exists(env) ? (Path.GetFullPath(env), "")
                : (null, $"no real copy of CIFAR-10: ${Variable} names {env}, which does not exist");
        return File.Exists(Shared) ? (Shared, "") : (null, $"no real copy of CIFAR-10: ${Variable} is not set, and there is no {Shared}");
    }
}

/// <summary>A test on the real copy of CIFAR-10 (<see cref="RealCifar10Copy"/>); skipped, saying where it looked, without one.</summary>
public sealed class Cifar10CopyFactAttribute : FactAttribute
{
    public Cifar10CopyFactAttribute()
    {
        if (RealCifar10Copy.Locate() is (null, var looked)) Skip = looked;
    }
}

/// <summary>The real copy imported once, with `cankit data import`, into a temporary data root deleted at the end.</summary>
public sealed class Cifar10CopyFixture : IDisposable
{
    private readonly string? _dir;
    public string Root { get; } = "";
    public string Source { get; } = "";
    public (int Code, string Out, string Err) Import { get; }
    public TimeSpan ImportTime { get; }
    public ImageSet? Train { get; }
    public ImageSet? Test { get; }

    public Cifar10CopyFixture()
    {
        if (RealCifar10Copy.Locate().Source is not { } source) return;
        _dir = Directory.CreateDirectory(Path.Combine(ScratchFolder(), $"cankit-cifar10-real-{Guid.NewGuid():N}")).FullName;
        (Source, Root) = (source, Path.Combine(_dir, "data"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Import = CliRunner.Run("data", "import", "cifar10", source, "--data-root", Root);
        ImportTime = clock.Elapsed;
        if (Import.Code != 0) return;
        (Train, Test) = (Cifar10.Load(train: true, Root), Cifar10.Load(train: false, Root));
    }

    public void Dispose()
    {
        if (_dir is not null) Directory.Delete(_dir, recursive: true);
    }

    // The import writes 60 000 small files and the end deletes them. On a disk with few operations per second that
    // alone took minutes (measured: 2.5 min for `rm -rf` of one import), so the copy goes to memory where the OS has a
    // memory file system with room (Linux's /dev/shm; about 0.45 GB is used), else to the temporary folder.
    private static string ScratchFolder()
    {
        const string shm = "/dev/shm";
        try
        {
            if (OperatingSystem.IsLinux() && Directory.Exists(shm) && new DriveInfo(shm).AvailableFreeSpace > (2L << 30)) return shm;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { }
        return Path.GetTempPath();
    }
}

/// <summary>
/// The real CIFAR-10 (the shared JPEG copy unless <c>$CANKIT_CIFAR10</c> names another) through `cankit data import`: the
/// official counts, class names and image size, pixel statistics close to the published ones, a balanced held-out tail,
/// and `cankit data verify cifar10` on the result.
/// </summary>
[Collection("console")]
public sealed class Cifar10RealCopyTests(Cifar10CopyFixture copy, ITestOutputHelper output) : IClassFixture<Cifar10CopyFixture>
{
    private (ImageSet Train, ImageSet Test) Sets()
    {
        Assert.True(copy.Import.Code == 0, $"import of {copy.Source} failed: {copy.Import.Err}");
        return (copy.Train!, copy.Test!);
    }

    [Cifar10CopyFact]
    public void AllSixtyThousandImagesImportWithTheOfficialCountsPerClass()
    {
        var (train, test) = Sets();
        output.WriteLine($"import of {copy.Source}: {copy.ImportTime.TotalSeconds:F1} s");
        foreach (var (split, set, perClass) in new[] { ("train", train, 5000), ("test", test, 1000) })
        {
            string counts = string.Join(", ", Cifar10.ClassNames.Select(c => $"{c} {perClass}"));
            Assert.Contains($"{split}: {10 * perClass} images, 32×32×3; {counts}\n", copy.Import.Out);
            Assert.Equal(10 * perClass, set.Count);
            Assert.Equal(Cifar10.ClassNames, set.ClassNames);
            Assert.Equal((3, 32, 32), (set.Channels, set.Height, set.Width));
            Assert.All(set.Labels.CountBy(l => l), kv => Assert.Equal(perClass, kv.Value));
            Assert.Same(Normalization.Cifar10, set.Normalization);
        }
        Assert.DoesNotContain("note:", copy.Import.Out);
        Assert.Equal(["cifar10"], Directory.EnumerateFileSystemEntries(copy.Root).Select(Path.GetFileName));
        Assert.Equal(["test", "train"], Directory.GetDirectories(Path.Combine(copy.Root, "cifar10")).Select(Path.GetFileName).Order());
    }

    [Cifar10CopyFact]
    public void PixelMeansAreCifar10sPublishedOnesWithinWhatTheJpegStepChanges()
    {
        var (train, _) = Sets();
        var sum = new long[3];
        var squares = new double[3];
        var image = new byte[train.ImageBytes];
        for (int i = 0; i < train.Count; i++)
        {
            train.CopyImage(i, image);
            for (int c = 0; c < 3; c++)
                foreach (byte v in image.AsSpan(c * 1024, 1024)) { sum[c] += v; squares[c] += v * v; }
        }
        double n = 1024.0 * train.Count;
        for (int c = 0; c < 3; c++)
        {
            double mean = sum[c] / n / 255, std = Math.Sqrt(squares[c] / n / (255.0 * 255) - mean * mean);
            var (publishedMean, publishedStd) = (Normalization.Cifar10.Mean[c], Normalization.Cifar10.Std[c]);
            output.WriteLine($"channel {c}: mean {mean:F4} (published {publishedMean}), std {std:F4} (published {publishedStd})");
            // The JPEG copy is not the binary batches: its pixels differ from them by a few grey levels (about 8 on average,
            // in both directions), and the JPEG step smooths a little, so its standard deviations come out 0.001–0.002 low.
            // The tolerance, 0.02 (5 grey levels), is that difference with room to spare; a mean or deviation outside it
            // means other data (another set, swapped channels, a wrong decode), not the JPEG step.
            Assert.InRange(mean, publishedMean - 0.02, publishedMean + 0.02);
            Assert.InRange(std, publishedStd - 0.02, publishedStd + 0.02);
        }
    }

    [Cifar10CopyFact]
    public void TheHeldOutTailIsBalancedAndVerifyPasses()
    {
        var (train, test) = Sets();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i % 10), train.Labels.Take(20));
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i % 10), test.Labels.Take(20));
        Assert.All(train.Labels.TakeLast(5000).CountBy(l => l), kv => Assert.Equal(500, kv.Value));
        Assert.Equal(10, train.Labels.TakeLast(5000).Distinct().Count());

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var r = CliRunner.Run("data", "verify", "cifar10", "--data-root", copy.Root);
        output.WriteLine($"verify: {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("ok    loads: 50000 train / 10000 test images, 10 classes", r.Out);
    }
}
