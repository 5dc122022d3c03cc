using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using CanKit.Data;
using CanKit.Data.Fetch;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Bad dataset files, image folders, archives and servers: each is a one-line error naming the file (or URL) and what is
/// wrong in it, exit code 1; what only deserves a warning (a link to a folder) is said and skipped, never silently
/// followed; a server that sends nothing is given up after a bounded wait.
/// </summary>
[Collection("console")]
public sealed class BadInputDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-baddata-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertOneLineError((int, string, string) r, int code, string message) => BadInputFlagTests.AssertOneLineError(r, code, message);

    private static string[] FashionArgs(string root, string run) =>
        ["pretrain", "--data-root", root, "--width", "32", "--depth", "1", "--heads", "2", "--patch", "7", "--batch", "8", "--steps", "1", "--out", run];

    [Fact]
    public void AFashionMnistLabelOutOfRangeIsNamedOnLoadNotAtEvaluation()
    {
        string root = SyntheticData.FashionMnist(_dir, train: 32, test: 8);
        string labels = Path.Combine(root, "train-labels-idx1-ubyte");
        byte[] b = File.ReadAllBytes(labels);
        b[8 + 5] = 255;   // image 5's label, after the 8-byte header
        File.WriteAllBytes(labels, b);
        string run = Path.Combine(_dir, "run");
        AssertOneLineError(CliRunner.Run(FashionArgs(root, run)), 1, $"{labels}: label 255 of image 5 at byte 13 (uncompressed) is outside 0..9");
        Assert.False(Directory.Exists(run));
        AssertOneLineError(CliRunner.Run("demo", "--data", root, "--steps", "1"), 1, $"{labels}: label 255");
    }

    [Fact]
    public void ACutFashionMnistFileIsNamedWithTheOffset()
    {
        string root = SyntheticData.FashionMnist(_dir, train: 32, test: 8);
        string images = Path.Combine(root, "train-images-idx3-ubyte");
        using (var f = File.OpenWrite(images)) f.SetLength(16 + 31 * 784 + 100);
        AssertOneLineError(CliRunner.Run(FashionArgs(root, Path.Combine(_dir, "run"))), 1, $"{images}: truncated at byte {16 + 31 * 784 + 100}");
    }

    [Fact]
    public void DataVerifyNamesACifarLabelOutOfRange()
    {
        // The catalog's exact file sizes (10 000 records each), as sparse files: all-zero records but one label of 200.
        string folder = Path.Combine(_dir, "cifar-10-batches-bin");
        Directory.CreateDirectory(folder);
        foreach (string f in Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").Append("test_batch.bin"))
            using (var s = File.Create(Path.Combine(folder, f))) s.SetLength(10000L * 3073);
        File.WriteAllText(Path.Combine(folder, "batches.meta.txt"), string.Join('\n', Enumerable.Range(0, 10).Select(i => $"class{i}")));
        string bad = Path.Combine(folder, "data_batch_3.bin");
        using (var s = File.OpenWrite(bad)) { s.Position = 7 * 3073; s.WriteByte(200); }
        AssertOneLineError(CliRunner.Run("data", "verify", "cifar10", "--root", _dir), 1, $"{bad}: label 200 at byte {7 * 3073} is outside 0..9");
    }

    [Fact]
    public void ACifarFileOfTheWrongLengthIsNamed()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string file = Path.Combine(root, "data_batch_2.bin");
        using (var s = File.OpenWrite(file)) s.SetLength(8 * 3073 - 10);
        AssertOneLineError(CliRunner.Run(SyntheticData.TinyPretrainArgs(root, Path.Combine(_dir, "run"), 1)), 1, $"{file}: truncated or corrupt");
    }

    [Fact]
    public void NoImageSetHoldsALabelOutsideItsClassesAndKnnRefusesANaNTemperature()
    {
        var e = Assert.Throws<ArgumentException>(() => new ImageSet("tiny", new byte[3 * 4], [0, 1, 2], 1, 2, 2, ["a", "b"], Normalization.FashionMnist));
        Assert.Equal("tiny: label 2 of image 2 is outside 0..1", e.Message);
        using var x = ones(4, 3);
        using var y = zeros(4, ScalarType.Int64);
        var t = Assert.Throws<ArgumentOutOfRangeException>(() =>
            CanKit.Evaluation.KnnClassifier.Accuracy(x, y, x, y, classes: 2, k: 2, temperature: double.NaN));
        Assert.Equal("temperature", t.ParamName);
    }

    private string ImageTree()
    {
        string root = Path.Combine(_dir, "images");
        for (int i = 0; i < 3; i++)
        {
            SyntheticData.Png(Path.Combine(root, "a", $"{i}.png"), (byte)(10 * i));
            SyntheticData.Png(Path.Combine(root, "b", $"{i}.png"), (byte)(100 + 10 * i));
        }
        return root;
    }

    [Fact]
    public void AnEmptyClassFolderIsRefusedNamingIt()
    {
        string root = ImageTree();
        Directory.CreateDirectory(Path.Combine(root, "c_empty"));
        AssertOneLineError(CliRunner.Run("data", "cache", root, "--side", "8"), 1,
                           $"{Path.Combine(root, "c_empty")}: class folder has no .jpg/.jpeg/.png files");
        Assert.False(File.Exists(ImageFolder.CachePath(root, 8)));
    }

    [Fact]
    public void LinksToFoldersAreNotFollowedAndSaidSo()
    {
        if (OperatingSystem.IsWindows()) return;   // symbolic links need privileges there
        string root = ImageTree();
        // A loop (a → its parent) and a link from class b into class a: followed, 6 images became 246, mislabelled.
        string loop = Path.Combine(root, "a", "loop"), cross = Path.Combine(root, "b", "more");
        Directory.CreateSymbolicLink(loop, "..");
        Directory.CreateSymbolicLink(cross, Path.Combine(root, "a"));
        var (code, output, err) = CliRunner.Run("data", "cache", root, "--side", "8");
        Assert.True(code == 0, err);
        Assert.Contains($"{root}: 6 images in 2 classes", output);
        Assert.Contains($"warning: link to a folder not followed: {loop} -> ..", err);
        Assert.Contains($"warning: link to a folder not followed: {cross} -> {Path.Combine(root, "a")}", err);
        var set = ImageFolder.Load(root, 8);
        Assert.Equal([0, 0, 0, 1, 1, 1], set.Labels);
        // Each flat-colour PNG keeps its value: no image came twice.
        Assert.Equal([0, 10, 20, 100, 110, 120], Enumerable.Range(0, 6).Select(i => (int)set.Image(i)[0]));
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"Version\":1,\"Side\":8,\"Channels\":3,\"Count\":6,\"Classes\":null,\"BinBytes\":1,\"Skipped\":[]}")]
    public void ACorruptCacheIndexIsNamed(string index)
    {
        string root = ImageTree();
        Assert.Equal(0, CliRunner.Run("data", "cache", root, "--side", "8").Code);
        string path = Path.Combine(root, ".cankit-cache-8.json");
        File.WriteAllText(path, index);
        AssertOneLineError(CliRunner.Run("data", "cache", root, "--side", "8"), 1, $"{path}: ");
    }

    [Fact]
    public void ACutOrForeignArchiveIsNamedAndLeavesNothing()
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz, TarEntryFormat.Pax, leaveOpen: true))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "data/x.bin") { DataStream = new MemoryStream(new byte[100_000]) });
        string target = Path.Combine(_dir, "out");
        foreach (var bytes in new[] { ms.ToArray()[..(int)(ms.Length / 2)], "this is not an archive at all, just text"u8.ToArray() })
        {
            string archive = Path.Combine(_dir, "a.tar.gz");
            File.WriteAllBytes(archive, bytes);
            var e = Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(archive, target));
            Assert.StartsWith($"{archive}: ", e.Message);
            Assert.Empty(Directory.EnumerateFileSystemEntries(target));
        }
    }

    [Fact]
    public void ADownloadThatIsNotTheArchiveIsDeletedAndNamed()
    {
        using var server = new LoopbackServer();
        server.Files["/cifar.tar.gz"] = "<html>mirror moved</html>"u8.ToArray();
        string root = Path.Combine(_dir, "data");
        var url = server.Url("/cifar.tar.gz").ToString();
        AssertOneLineError(CliRunner.Run("data", "fetch", "cifar10", "--root", root, "--url", url), 1, $"{url}: downloaded file has MD5 ");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(root, "downloads")));
        AssertOneLineError(CliRunner.Run("data", "fetch", "cifar10", "--root", root, "--url", server.Url("/missing.tar.gz").ToString()), 1, "404");
    }

    [Fact]
    public async Task AServerThatSendsNothingIsGivenUpAfterTwoStalls()
    {
        // Accepts connections and never answers: each attempt waits one stall timeout, two in a row end the download.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var held = new List<TcpClient>();
        using var stop = new CancellationTokenSource();
        var accept = Task.Run(async () =>
        {
            try { while (true) held.Add(await listener.AcceptTcpClientAsync(stop.Token)); }
            catch (OperationCanceledException) { }
        });
        try
        {
            string url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/cifar.tar.gz";
            var clock = System.Diagnostics.Stopwatch.StartNew();
            AssertOneLineError(CliRunner.Run("data", "fetch", "cifar10", "--root", Path.Combine(_dir, "data"), "--url", url, "--stall-timeout", "0.5"), 1,
                $"download of {url} failed after 2 attempt(s) (the server sent nothing for 0.5 s, 2 time(s) in a row)");
            // Two stalls of 0.5 s and one 2 s pause between attempts; the old limits waited 5 × 60 s + 20 s.
            Assert.InRange(clock.Elapsed.TotalSeconds, 1.0, 20);
        }
        finally
        {
            stop.Cancel();
            await accept.WaitAsync(TimeSpan.FromSeconds(5));
            foreach (var c in held) c.Dispose();
            listener.Stop();
        }
    }
}
