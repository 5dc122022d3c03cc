using System.Buffers.Binary;
using CanKit.Data;
using CanKit.Data.Fetch;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// `cankit data fetch fashion-mnist` against a loopback server (no internet) serving the official files, rebuilt from
/// Debian's <c>dataset-fashion-mnist</c>: Debian's .gz files hold the official files' compressed data under a shorter gzip
/// header (no file name, another time stamp), so putting the official header back gives the official bytes, which the
/// catalog's published MD5s check. Skipped, saying so, where Debian's files are not installed.
/// </summary>
[Collection("console")]
public sealed class FashionMnistFetchTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-fmfetch-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The official files' gzip time stamps (2017-08-31): the train files' and the test files'.
    private static uint OfficialTime(string name) => name.StartsWith("train", StringComparison.Ordinal) ? 1504176606u : 1504176627u;

    // The official file `name` from Debian's copy, or null where Debian's copy is not the expected one.
    private static byte[]? Official(string name)
    {
        string path = Path.Combine(FashionMnist.DebianRoot, name);
        if (!File.Exists(path)) return null;
        byte[] debian = File.ReadAllBytes(path);
        if (debian.Length < 18 || debian[0] != 0x1f || debian[1] != 0x8b || debian[2] != 8 || debian[3] != 0) return null;
        // ID1 ID2 CM, FLG = FNAME, MTIME, XFL = 0, OS = Unix, then the file name and a zero byte; then Debian's deflate data and trailer.
        var header = new byte[10] { 0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3 };
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4, 4), OfficialTime(name));
        return [.. header, .. System.Text.Encoding.ASCII.GetBytes(name[..^".gz".Length]), 0, .. debian.AsSpan(10)];
    }

    // The four official files by name, or null (and a line saying why) when Debian's files are absent.
    private Dictionary<string, byte[]>? OfficialFiles()
    {
        var files = DatasetCatalog.FashionMnist.Files.ToDictionary(f => f.Name, f => Official(f.Name));
        if (files.Values.All(b => b is not null)) return files.ToDictionary(kv => kv.Key, kv => kv.Value!);
        output.WriteLine($"skipped: Debian's Fashion-MNIST files are not in {FashionMnist.DebianRoot} (apt install dataset-fashion-mnist)");
        return null;
    }

    [Fact]
    public void TheCatalogsChecksumsAreTheOfficialFilesAndDebiansHoldTheSameData()
    {
        if (OfficialFiles() is not { } files) return;
        foreach (var f in DatasetCatalog.FashionMnist.Files)
        {
            string rebuilt = Path.Combine(_dir, f.Name);
            File.WriteAllBytes(rebuilt, files[f.Name]);
            Assert.Null(Downloader.Verify(rebuilt, f.Expected));   // size, SHA-256 and the published MD5
            // Debian's file itself differs (its header is shorter), though it decompresses to the same bytes.
            Assert.NotNull(Downloader.Verify(Path.Combine(FashionMnist.DebianRoot, f.Name), f.Expected));
        }
    }

    [Fact]
    public void FetchWritesTheFourFilesIntoTheDataRootWhereEveryLoaderFindsThem()
    {
        if (OfficialFiles() is not { } files) return;
        using var server = new LoopbackServer();
        foreach (var (name, bytes) in files) server.Files[$"/mirror/{name}"] = bytes;
        string root = Path.Combine(_dir, "data"), url = server.Url("/mirror/").ToString();

        var r = CliRunner.Run("data", "fetch", "fashion-mnist", "--data-root", root, "--url", url);
        Assert.True(r.Code == 0, r.Err);
        string folder = Path.Combine(root, "fashion-mnist");
        Assert.Equal(files.Keys.Order(), Directory.GetFiles(folder).Select(Path.GetFileName).Order());
        Assert.Equal(folder, FashionMnist.Resolve(root));
        Assert.Equal(10000, FashionMnist.Load(train: false, root).Count);

        // CANKIT_DATA names the same data root for verify (and fetch): nothing is downloaded again.
        int requests = server.Requests;
        var (verify, again) = DataRootTests.With(() => (CliRunner.Run("data", "verify", "fashion-mnist"),
                                                        CliRunner.Run("data", "fetch", "fashion-mnist", "--url", url)),
                                                 (DataRoot.EnvironmentVariable, root));
        Assert.True(verify.Code == 0, verify.Err);
        Assert.Contains("ok    loads: 60000 train / 10000 test images, 10 classes", verify.Out);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains($"Fashion-MNIST: already in {folder}", again.Out);
        Assert.Equal(requests, server.Requests);
    }

    [Fact]
    public void ACorruptedFileIsRefusedInOneLineAndNothingIsLeftAsIfComplete()
    {
        if (OfficialFiles() is not { } files) return;
        const string bad = "t10k-images-idx3-ubyte.gz";
        using var server = new LoopbackServer();
        foreach (var (name, bytes) in files) server.Files[$"/{name}"] = bytes;
        var corrupted = (byte[])files[bad].Clone();
        corrupted[corrupted.Length / 2] ^= 0x40;   // one flipped bit: the size is right, the checksums are not
        server.Files[$"/{bad}"] = corrupted;
        string root = Path.Combine(_dir, "data"), folder = Path.Combine(root, "fashion-mnist"), url = server.Url("/").ToString();

        BadInputFlagTests.AssertOneLineError(CliRunner.Run("data", "fetch", "fashion-mnist", "--data-root", root, "--url", url), 1,
                                             $"{url}{bad}: downloaded file has SHA-256 ");
        Assert.False(File.Exists(Path.Combine(folder, bad)));
        Assert.False(File.Exists(Path.Combine(folder, bad + ".part")));
        Assert.False(FashionMnist.HoldsAll(folder));
        Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Resolve(root));
        var verify = CliRunner.Run("data", "verify", "fashion-mnist", "--data-root", root);
        Assert.Equal(1, verify.Code);
        Assert.Contains($"BAD   {Path.Combine(folder, bad)}: is missing", verify.Out);

        // With the right file on the server, a second fetch downloads only what is missing.
        server.Files[$"/{bad}"] = files[bad];
        int requests = server.Requests;
        var r = CliRunner.Run("data", "fetch", "fashion-mnist", "--data-root", root, "--url", url);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(requests + 2, server.Requests);   // the test images and the test labels, after them
        Assert.True(FashionMnist.HoldsAll(folder));
        Assert.Equal(60000, FashionMnist.Load(train: true, root).Count);
    }
}
