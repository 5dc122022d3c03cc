using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CanKit.Data;
using CanKit.Data.Fetch;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Downloads against a loopback HTTP server started here (no internet), serving archives generated in the official
/// layouts; safe extraction against malicious archives.
/// </summary>
public sealed class FetchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-fetch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Md5(byte[] b) => Convert.ToHexStringLower(MD5.HashData(b));

    private static Downloader NewDownloader(HttpClient http, int attempts = 3) =>
        new(http) { IdleTimeout = TimeSpan.FromSeconds(10), MaxAttempts = attempts, RetryDelay = TimeSpan.Zero };

    private static HttpClient NewClient() => new() { Timeout = TimeSpan.FromSeconds(30) };

    // A tar.gz of (name, bytes) regular files, plus optional extra raw entries.
    private static byte[] TarGz(IEnumerable<(string Name, byte[] Data)> files, IEnumerable<TarEntry>? extra = null)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gz, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, data) in files)
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
            foreach (var e in extra ?? []) tar.WriteEntry(e);
        }
        return ms.ToArray();
    }

    // CIFAR-10's binary layout with `records` records per batch; labels cycle 0..9.
    private static (byte[] Archive, ExpectedLayout Layout) CifarArchive(int records)
    {
        var files = new List<(string, byte[])>();
        var sizes = new Dictionary<string, long?>();
        foreach (string f in Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").Append("test_batch.bin"))
        {
            var b = new byte[records * 3073];
            for (int r = 0; r < records; r++) { b[r * 3073] = (byte)(r % 10); b.AsSpan(r * 3073 + 1, 3072).Fill((byte)r); }
            files.Add(($"cifar-10-batches-bin/{f}", b));
            sizes[$"cifar-10-batches-bin/{f}"] = b.Length;
        }
        var names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"u8.ToArray();
        files.Add(("cifar-10-batches-bin/batches.meta.txt", names));
        sizes["cifar-10-batches-bin/batches.meta.txt"] = null;
        return (TarGz(files), new ExpectedLayout(sizes, new Dictionary<string, int>()));
    }

    [Fact]
    public async Task Cifar10FetchResumesAnInterruptedDownload()
    {
        var (archive, layout) = CifarArchive(records: 40);
        using var server = new LoopbackServer();
        server.Files["/cifar-10-binary.tar.gz"] = archive;
        server.CutAfter = archive.Length / 3;          // the first full transfer dies a third of the way in
        var source = DatasetCatalog.Cifar10 with { Url = server.Url("/cifar-10-binary.tar.gz"),
                                                   Expected = new ExpectedFile(archive.Length, Md5: Md5(archive)), Layout = layout };
        using var http = NewClient();

        // Run 1: one attempt only → fails, keeps the .part.
        var fetcher1 = new DatasetFetcher(NewDownloader(http, attempts: 1));
        var e = await Assert.ThrowsAsync<IOException>(() => fetcher1.FetchAsync(source, _dir));
        Assert.Contains("resumes", e.Message);
        string part = Path.Combine(_dir, "downloads", "cifar-10-binary.tar.gz.part");
        Assert.Equal(archive.Length / 3, new FileInfo(part).Length);

        // Run 2: resumes with a Range request from where run 1 stopped, verifies, extracts.
        var seen = new List<DownloadProgress>();
        var fetcher2 = new DatasetFetcher(NewDownloader(http));
        string folder = await fetcher2.FetchAsync(source, _dir, progress: new Sync<DownloadProgress>(seen));
        Assert.Contains($"bytes={archive.Length / 3}-", server.Ranges);
        Assert.True(seen[0].Resumed);
        Assert.Equal(archive.Length, seen[^1].Bytes);
        Assert.Equal(archive, File.ReadAllBytes(Path.Combine(_dir, "downloads", "cifar-10-binary.tar.gz")));
        Assert.False(File.Exists(part));

        var train = CifarBinary.LoadCifar10(folder, train: true);
        Assert.Equal(200, train.Count);
        Assert.Equal("truck", train.ClassNames[9]);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => i % 40 % 10), train.Labels);
        Assert.Empty(Directory.GetDirectories(_dir, ".extract-*"));

        // Run 3: everything already there → no request at all.
        int requests = server.Requests;
        await fetcher2.FetchAsync(source, _dir);
        Assert.Equal(requests, server.Requests);
    }

    [Fact]
    public async Task ResumeWithinOneCallAfterADroppedConnection()
    {
        var data = RandomNumberGenerator.GetBytes(300_000);
        using var server = new LoopbackServer();
        server.Files["/f.bin"] = data;
        server.CutAfter = 100_000;
        using var http = NewClient();
        string dest = Path.Combine(_dir, "f.bin");
        string sha = Convert.ToHexStringLower(SHA256.HashData(data));
        Assert.True(await NewDownloader(http).DownloadAsync(server.Url("/f.bin"), dest, new ExpectedFile(data.Length, sha)));
        Assert.Equal(data, File.ReadAllBytes(dest));
        Assert.Contains("bytes=100000-", server.Ranges);
        Assert.False(await NewDownloader(http).DownloadAsync(server.Url("/f.bin"), dest, new ExpectedFile(data.Length, sha)));
    }

    [Fact]
    public async Task ChecksumMismatchIsRejectedAndNothingIsKept()
    {
        var data = RandomNumberGenerator.GetBytes(50_000);
        using var server = new LoopbackServer();
        server.Files["/x.tar.gz"] = data;
        using var http = NewClient();
        string dest = Path.Combine(_dir, "x.tar.gz");
        var wrongSha = new ExpectedFile(Sha256: new string('0', 64));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => NewDownloader(http).DownloadAsync(server.Url("/x.tar.gz"), dest, wrongSha));
        Assert.Contains("SHA-256", e.Message);
        var e2 = await Assert.ThrowsAsync<InvalidDataException>(() =>
            NewDownloader(http).DownloadAsync(server.Url("/x.tar.gz"), dest, new ExpectedFile(Md5: "c32a1d4ab5d03f1284b67883e8d87530")));
        Assert.Contains("MD5", e2.Message);
        Assert.False(File.Exists(dest));
        Assert.False(File.Exists(dest + ".part"));
        // A missing file is a 404, reported without retrying forever.
        await Assert.ThrowsAsync<IOException>(() => NewDownloader(http).DownloadAsync(server.Url("/missing"), dest, new ExpectedFile()));
    }

    [Fact]
    public async Task ImagenetteLayoutFetchesAndLoadsAsAnImageFolder()
    {
        string[] wnids = ["n01440764", "n02102040", "n02979186"];
        var files = new List<(string, byte[])>();
        foreach (string split in new[] { "train", "val" })
            for (int c = 0; c < wnids.Length; c++)
                for (int i = 0; i < (split == "train" ? 2 : 1); i++)
                {
                    using var img = torch.full([3, 20 + i, 24], 40 * c + 10, ScalarType.Byte);
                    files.Add(($"imagenette2-160/{split}/{wnids[c]}/{wnids[c]}_{i}.JPEG", ImageCodec.EncodeJpeg(img)));
                }
        byte[] archive = TarGz(files);
        using var server = new LoopbackServer();
        server.Files["/imagenette2-160.tgz"] = archive;
        var layout = new ExpectedLayout(new Dictionary<string, long?>(),
                                        new Dictionary<string, int> { ["imagenette2-160/train"] = 6, ["imagenette2-160/val"] = 3 });
        var source = DatasetCatalog.Imagenette160 with { Url = server.Url("/imagenette2-160.tgz"),
                                                         Expected = new ExpectedFile(Md5: Md5(archive)), Layout = layout };
        using var http = NewClient();
        string folder = await new DatasetFetcher(NewDownloader(http)).FetchAsync(source, _dir);
        Assert.Equal(Path.Combine(_dir, "imagenette2-160"), folder);
        var train = ImageFolder.Load(Path.Combine(folder, "train"), 16, out var summary);
        Assert.Equal(wnids, train.ClassNames);
        Assert.Equal(new[] { 0, 0, 1, 1, 2, 2 }, train.Labels);
        Assert.Empty(summary.Skipped);
        Assert.InRange(train.Image(4)[0], 86, 94);   // class 2 → 90
        Assert.Equal(10, DatasetCatalog.ImagenetteClasses.Count);
        Assert.Empty(DatasetFetcher.CheckLayout(source, _dir));
        Assert.NotEmpty(DatasetFetcher.CheckLayout(DatasetCatalog.Imagenette160, _dir));  // the real counts differ
    }

    [Fact]
    public void MaliciousArchivesAreRejectedWithoutWritingOutside()
    {
        string target = Path.Combine(_dir, "target");
        string outsideAbs = Path.Combine(_dir, "abs-escape.txt");
        var good = ("ok/fine.txt", "fine"u8.ToArray());
        var cases = new (string Why, byte[] Archive)[]
        {
            ("'..'", TarGz([good, ("../escape.txt", "x"u8.ToArray())])),
            ("'..'", TarGz([good, ("ok/../../escape.txt", "x"u8.ToArray())])),
            ("absolute", TarGz([good, (outsideAbs, "x"u8.ToArray())])),
            ("absolute", TarGz([good], [new PaxTarEntry(TarEntryType.SymbolicLink, "link") { LinkName = "/etc" }])),
            ("outside", TarGz([good], [new PaxTarEntry(TarEntryType.SymbolicLink, "ok/link") { LinkName = "../../outside" }])),
            ("'..'", TarGz([good], [new PaxTarEntry(TarEntryType.HardLink, "ok/hard") { LinkName = "../escape.txt" }])),
            ("unsupported", TarGz([good], [new PaxTarEntry(TarEntryType.Fifo, "ok/fifo")])),
        };
        for (int i = 0; i < cases.Length; i++)
        {
            string path = Path.Combine(_dir, $"evil{i}.tar.gz");
            File.WriteAllBytes(path, cases[i].Archive);
            var e = Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(path, target));
            Assert.Contains("rejected", e.Message);
            Assert.Contains(cases[i].Why, e.Message);
            Assert.False(File.Exists(Path.Combine(_dir, "escape.txt")));
            Assert.False(File.Exists(outsideAbs));
            Assert.False(File.Exists(Path.Combine(_dir, "outside")));
            Assert.Empty(Directory.EnumerateFileSystemEntries(target));   // not even the good entry was kept
        }

        // Links that stay inside are skipped (reported), hard links become copies; the rest extracts.
        string okArchive = Path.Combine(_dir, "ok.tgz");
        File.WriteAllBytes(okArchive, TarGz([good], [
            new PaxTarEntry(TarEntryType.SymbolicLink, "ok/inner") { LinkName = "fine.txt" },
            new PaxTarEntry(TarEntryType.HardLink, "ok/copy.txt") { LinkName = "ok/fine.txt" }]));
        var summary = SafeTarExtractor.Extract(okArchive, target);
        Assert.Equal(["ok/inner -> fine.txt"], summary.SkippedLinks);
        Assert.Equal("fine", File.ReadAllText(Path.Combine(target, "ok", "copy.txt")));
        Assert.False(File.Exists(Path.Combine(target, "ok", "inner")));
    }

    [Fact]
    public void ImageNetSubsetLinksTheListedClasses()
    {
        string imagenet = Path.Combine(_dir, "imagenet");
        foreach (string split in new[] { "train", "val" })
            foreach (string wnid in new[] { "n00000001", "n00000002", "n00000003" })
            {
                Directory.CreateDirectory(Path.Combine(imagenet, split, wnid));
                for (int i = 0; i < 2; i++) File.WriteAllText(Path.Combine(imagenet, split, wnid, $"{wnid}_{i}.JPEG"), $"{split}{wnid}{i}");
            }
        string list = Path.Combine(_dir, "classes.txt");
        File.WriteAllText(list, "# two of three\nn00000003\n\nn00000001  tench\n");
        string output = Path.Combine(_dir, "subset");
        var counts = ImageNetSubset.Build(imagenet, list, output);
        Assert.Equal(4, counts["train"]);
        Assert.Equal(4, counts["val"]);
        Assert.Equal(["n00000001", "n00000003"], Directory.GetDirectories(Path.Combine(output, "train")).Select(Path.GetFileName).Order());
        string linked = Path.Combine(output, "train", "n00000003", "n00000003_1.JPEG");
        Assert.NotNull(new FileInfo(linked).LinkTarget);
        Assert.Equal("trainn000000031", File.ReadAllText(linked));
        Assert.Equal(4, ImageNetSubset.Build(imagenet, list, output, SubsetLinkMode.Copy)["train"]);  // re-run: idempotent

        File.WriteAllText(list, "n00000009\n");
        Assert.Contains("n00000009", Assert.Throws<DirectoryNotFoundException>(() => ImageNetSubset.Build(imagenet, list, output)).Message);
        File.WriteAllText(list, "tench\n");
        Assert.Contains(":1:", Assert.Throws<InvalidDataException>(() => ImageNetSubset.Build(imagenet, list, output)).Message);
    }

    private sealed class Sync<T>(List<T> sink) : IProgress<T>
    {
        public void Report(T value) { lock (sink) sink.Add(value); }
    }
}
