using System.Formats.Tar;
using System.IO.Compression;
using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// `cankit data import cifar10 SOURCE` on small synthetic archives and folders of both forms: where the copy lands (so every
/// loader finds it), what is refused (an existing target, the target itself, an archive that is not CIFAR-10), that a
/// refused import leaves nothing behind, and what `cankit data verify cifar10` says of an imported image folder.
/// </summary>
[Collection("console")]
public sealed class Cifar10ImportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cifar10-import-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary><paramref name="folder"/>'s content as a tar archive (gzip'd unless <paramref name="gzip"/> is false).</summary>
    internal static string Archive(string folder, string archive, bool gzip = true, bool withTopFolder = false)
    {
        using (var file = File.Create(archive))
        using (Stream data = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file)
            TarFile.CreateFromDirectory(folder, data, includeBaseDirectory: withTopFolder);
        return archive;
    }

    private static (int Code, string Out, string Err) Import(params string[] args) => CliRunner.Run(["data", "import", "cifar10", .. args]);

    // Nothing in the data root but what is named: no staging folder of an import left over.
    private static void AssertOnly(string root, params string[] names) =>
        Assert.Equal(names.Order(), Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName).Order());

    [Fact]
    public void AnImageFolderArchiveLandsInTheDataRootWhereEveryLoaderFindsIt()
    {
        string archive = Archive(SyntheticData.Cifar10Images(_dir, 2, 1), Path.Combine(_dir, "cifar10-png.tar.gz"));
        string root = Path.Combine(_dir, "data");
        var r = Import(archive, "--data-root", root);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("train: 20 images, 32×32×3; airplane 2, automobile 2, bird 2, cat 2, deer 2, dog 2, frog 2, horse 2, ship 2, truck 2\n",
                        r.Out);
        Assert.Contains("test: 10 images, 32×32×3; airplane 1, automobile 1,", r.Out);
        Assert.Contains("note: the official CIFAR-10 has 50000 train and 10000 test images", r.Out);
        Assert.Contains($"CIFAR-10 ready in {Path.Combine(root, "cifar10")}: an image-folder copy", r.Out);
        AssertOnly(root, "cifar10");
        string folder = Path.Combine(root, "cifar10");
        Assert.Equal((folder, Cifar10Form.ImageFolder), Cifar10.Resolve(root));
        Assert.True(File.Exists(ImageFolder.CachePath(Path.Combine(folder, "train"), Cifar10.Side)));   // decoded once, during the import

        // Without --data-root it goes where the loaders look without one ($CANKIT_DATA here), and they find it there.
        string env = Path.Combine(_dir, "env");
        var (viaEnv, test) = DataRootTests.With(() => (Import(archive), Datasets.Load("cifar10", null, train: false)),
                                                (DataRoot.EnvironmentVariable, env));
        Assert.True(viaEnv.Code == 0, viaEnv.Err);
        Assert.DoesNotContain("--data-root", viaEnv.Out);
        Assert.Equal(Enumerable.Range(0, 10), test.Labels);
        AssertOnly(env, "cifar10");
    }

    [Fact]
    public void TheOfficialBinaryArchiveLandsInItsBatchesFolder()
    {
        string batches = Cifar10Tests.Batches(Path.Combine(_dir, "src", Cifar10.BatchesFolder), perFile: 2);
        string archive = Archive(batches, Path.Combine(_dir, "cifar-10-binary.tar"), gzip: false, withTopFolder: true);
        string root = Path.Combine(_dir, "data");
        var r = Import(archive, "--data-root", root);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("train: 10 images", r.Out);
        Assert.Contains("test: 2 images", r.Out);
        string folder = Path.Combine(root, "cifar10", Cifar10.BatchesFolder);
        Assert.Contains($"CIFAR-10 ready in {folder}: the binary batches", r.Out);
        Assert.Equal((folder, Cifar10Form.Binary), Cifar10.Resolve(root));
        Assert.Equal(File.ReadAllBytes(Path.Combine(batches, "test_batch.bin")), File.ReadAllBytes(Path.Combine(folder, "test_batch.bin")));
        AssertOnly(root, "cifar10");
    }

    [Fact]
    public void AFolderIsCopiedAndTheSourceKept()
    {
        string source = SyntheticData.Cifar10Images(_dir, 1, 1);
        string root = Path.Combine(_dir, "data");
        var r = Import(source, "--data-root", root);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(20, Directory.GetFiles(source, "*.png", SearchOption.AllDirectories).Length);
        Assert.Equal(20, Directory.GetFiles(Path.Combine(root, "cifar10"), "*.png", SearchOption.AllDirectories).Length);
        Assert.Equal(10, Cifar10.Load(train: true, root).Count);
    }

    [Fact]
    public void AnExistingTargetIsRefusedUnlessForcedAndTheTargetItselfAlways()
    {
        string source = SyntheticData.Cifar10Images(_dir, 1, 1);
        string root = Path.Combine(_dir, "data"), target = Path.Combine(root, "cifar10");
        Assert.Equal(0, Import(source, "--data-root", root).Code);
        File.WriteAllText(Path.Combine(target, "mine.txt"), "kept until --force");

        BadInputFlagTests.AssertOneLineError(Import(source, "--data-root", root), 1,
                                             $"{target} already exists and is not empty; delete it to import again (or import with --force");
        Assert.True(File.Exists(Path.Combine(target, "mine.txt")));
        BadInputFlagTests.AssertOneLineError(Import(target, "--data-root", root, "--force"), 1, $"{target}: is the target folder itself");
        BadInputFlagTests.AssertOneLineError(Import(root, "--data-root", root, "--force"), 1, $"{root}: holds the target folder {target}");
        string inside = Archive(source, Path.Combine(target, "copy.tar.gz"));
        BadInputFlagTests.AssertOneLineError(Import(inside, "--data-root", root, "--force"), 1,
                                             $"{inside}: lies inside the target folder {target}, which an import replaces");
        File.Delete(inside);

        var forced = Import(source, "--data-root", root, "--force");
        Assert.True(forced.Code == 0, forced.Err);
        Assert.Contains($"replaced the earlier {target}", forced.Out);
        Assert.False(File.Exists(Path.Combine(target, "mine.txt")));
        AssertOnly(root, "cifar10");
    }

    [Fact]
    public void WhatIsNotCifar10IsOneLineAndLeavesNothingBehind()
    {
        string root = Path.Combine(_dir, "data");
        string other = Path.Combine(_dir, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "notes.txt"), "not an image");
        SyntheticData.Png(Path.Combine(other, "pics", "a.png"), 7);
        string archive = Archive(other, Path.Combine(_dir, "other.tar.gz"));
        var r = Import(archive, "--data-root", root);
        BadInputFlagTests.AssertOneLineError(r, 1, $"{archive}: holds no CIFAR-10 (expected the binary batches data_batch_1.bin … test_batch.bin");
        Assert.Contains("found notes.txt, pics/); nothing was imported", r.Err);
        Assert.False(Directory.Exists(root));

        // Half a form inside the archive: named as a path in the archive.
        string half = SyntheticData.Cifar10Images(_dir, 1, 1, name: "half");
        Directory.Delete(Path.Combine(half, "test"), recursive: true);
        string halfArchive = Archive(half, Path.Combine(_dir, "half.tgz"));
        BadInputFlagTests.AssertOneLineError(Import(halfArchive, "--data-root", root), 1,
                                             $"{halfArchive}: CIFAR-10 image folder has train/ but no test/");
        Assert.False(Directory.Exists(root));

        // An image that does not decode: named as a path in the data set, found before anything takes the name cifar10.
        string broken = SyntheticData.Cifar10Images(_dir, 1, 1, name: "broken");
        File.WriteAllBytes(Path.Combine(broken, "train", "cat", "0000.png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
        string brokenArchive = Archive(broken, Path.Combine(_dir, "broken.tar.gz"));
        var b = Import(brokenArchive, "--data-root", root);
        BadInputFlagTests.AssertOneLineError(b, 1, $"{brokenArchive}: ");
        Assert.Contains(Path.Combine("train", "cat", "0000.png"), b.Err);
        Assert.EndsWith("; nothing was imported", b.Err.Trim());
        Assert.False(Directory.Exists(root));

        // Not an archive, and no such file: the first names the file, the second is a bad argument (exit code 2).
        string text = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(text, "hello");
        BadInputFlagTests.AssertOneLineError(Import(text, "--data-root", root), 1, $"{text}: not a readable tar or tar.gz archive");
        string nowhere = Path.Combine(_dir, "nowhere.tar.gz");
        BadInputFlagTests.AssertOneLineError(Import(nowhere, "--data-root", root), 2, $"source: no such archive or folder: '{nowhere}'");
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void VerifyChecksAnImportedImageFolderAgainstTheOfficialCounts()
    {
        string root = Path.Combine(_dir, "data");
        Assert.Equal(0, Import(SyntheticData.Cifar10Images(_dir, 1, 1), "--data-root", root).Code);
        var r = CliRunner.Run("data", "verify", "cifar10", "--data-root", root);
        Assert.Equal(1, r.Code);
        Assert.Contains($"ok    {Path.Combine(root, "cifar10")}: an image-folder copy", r.Out);
        Assert.Contains("no checksums", r.Out);
        Assert.Contains("ok    loads: 10 train / 10 test images, 10 classes", r.Out);
        Assert.Contains("does not hold the official counts", r.Err);
    }
}
