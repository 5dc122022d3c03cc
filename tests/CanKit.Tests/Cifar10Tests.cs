using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// <see cref="Cifar10"/> on small synthetic folders of both forms: what each loads (labels, pixels, the interleaving of an
/// image folder), where it is found under a data root, and the one line said of a folder with both forms, part of one,
/// or nothing.
/// </summary>
[Collection("console")]   // sets CANKIT_DATA and XDG_DATA_HOME around some calls
public sealed class Cifar10Tests : IDisposable
{
    private const string Env = DataRoot.EnvironmentVariable, Xdg = "XDG_DATA_HOME";
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cifar10-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Byte j of the pixels of record k in file f: known without storing it.
    private static byte Pixel(int f, int k, int j) => (byte)(f * 50 + k * 7 + j);
    private static int Label(int f, int k) => (f * 3 + k) % 10;

    /// <summary>The six binary batches in <paramref name="folder"/>, <paramref name="perFile"/> records each, and the class names.</summary>
    internal static string Batches(string folder, int perFile = 4)
    {
        Directory.CreateDirectory(folder);
        for (int f = 0; f < Cifar10.BinaryFiles.Length; f++)
        {
            var bytes = new byte[perFile * (1 + CifarBinary.PixelBytes)];
            for (int k = 0; k < perFile; k++)
            {
                int at = k * (1 + CifarBinary.PixelBytes);
                bytes[at] = (byte)Label(f, k);
                for (int j = 0; j < CifarBinary.PixelBytes; j++) bytes[at + 1 + j] = Pixel(f, k, j);
            }
            File.WriteAllBytes(Path.Combine(folder, Cifar10.BinaryFiles[f]), bytes);
        }
        File.WriteAllLines(Path.Combine(folder, "batches.meta.txt"), [.. Cifar10.ClassNames, ""]);
        return folder;
    }

    [Fact]
    public void BinaryBatchesLoadWithTheirLabelsAndPixels()
    {
        string folder = Batches(Path.Combine(_dir, "bin"), perFile: 4);
        var train = Cifar10.Load(train: true, folder);
        Assert.Equal(20, train.Count);
        Assert.Equal(Enumerable.Range(0, 5).SelectMany(f => Enumerable.Range(0, 4).Select(k => Label(f, k))), train.Labels);
        for (int i = 0; i < train.Count; i++)
            Assert.Equal(Enumerable.Range(0, CifarBinary.PixelBytes).Select(j => Pixel(i / 4, i % 4, j)), train.Image(i));
        Assert.Equal(Cifar10.ClassNames, train.ClassNames);
        Assert.Same(Normalization.Cifar10, train.Normalization);
        Assert.Equal((3, 32, 32), (train.Channels, train.Height, train.Width));

        var test = Datasets.Load("cifar10", folder, train: false);
        Assert.Equal(Enumerable.Range(0, 4).Select(k => Label(5, k)), test.Labels);
        Assert.Equal(Enumerable.Range(0, CifarBinary.PixelBytes).Select(j => Pixel(5, 3, j)), test.Image(3));
    }

    [Fact]
    public void TheBatchesFolderIsFoundUnderADataRootGivenOrFromCankitData()
    {
        string root = Path.Combine(_dir, "data"), batches = Batches(Path.Combine(root, "cifar10", Cifar10.BatchesFolder));
        Assert.Equal((batches, Cifar10Form.Binary), Cifar10.Resolve(root));
        Assert.Equal((batches, Cifar10Form.Binary), Cifar10.Resolve(Path.Combine(root, "cifar10")));
        Assert.Equal((batches, Cifar10Form.Binary), DataRootTests.With(() => Cifar10.Resolve(null), (Env, root)));
        Assert.Equal(20, DataRootTests.With(() => Datasets.Load("cifar10", null, train: true).Count, (Env, root)));
    }

    [Fact]
    public void AnImageFolderIsInterleavedByClassWithCifar10sNormalisation()
    {
        string folder = SyntheticData.Cifar10Images(_dir, trainPerClass: 4, testPerClass: 1);
        var train = Cifar10.Load(train: true, folder);
        Assert.Equal(40, train.Count);
        // Image k of every class before image k + 1 of any: the labels cycle 0…9.
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i % 10), train.Labels.Take(20));
        // So any tail, such as the images a run holds out, has the classes in equal numbers.
        Assert.All(train.Labels.TakeLast(20).CountBy(l => l), kv => Assert.Equal(2, kv.Value));
        Assert.Equal(10, train.Labels.TakeLast(20).Distinct().Count());
        // The order within a class is kept: image j is file j / 10 of class j % 10 (the PNGs are lossless at 32 px).
        for (int j = 0; j < train.Count; j++)
        {
            var rgb = SyntheticData.Cifar10Colour(j % 10, j / 10);
            Assert.Equal(rgb.SelectMany(v => Enumerable.Repeat(v, 1024)), train.Image(j));
        }
        Assert.Equal(Cifar10.ClassNames, train.ClassNames);
        Assert.Same(Normalization.Cifar10, train.Normalization);
        Assert.Equal((3, 32, 32), (train.Channels, train.Height, train.Width));
        Assert.Equal(Enumerable.Range(0, 10), Datasets.Load("cifar10", folder, train: false).Labels);
    }

    [Fact]
    public void AFolderWithBothFormsIsRefusedNamingBoth()
    {
        string folder = SyntheticData.Cifar10Images(_dir, 1, 1);
        Batches(folder, perFile: 1);
        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Load(train: true, folder));
        Assert.StartsWith($"{folder}: holds both CIFAR-10 forms (", e.Message);
        Assert.Contains("data_batch_1.bin", e.Message);
        Assert.Contains("test_batch.bin", e.Message);
        Assert.Contains("train/, test/", e.Message);
    }

    [Fact]
    public void FiveOfTheSixBatchesNameTheMissingFile()
    {
        string folder = Batches(Path.Combine(_dir, "bin"), perFile: 1);
        File.Delete(Path.Combine(folder, "data_batch_3.bin"));
        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Detect(folder));
        Assert.Contains($"{folder}: CIFAR-10 binary batches are incomplete: data_batch_3.bin missing (5 of 6 present)", e.Message);
        Assert.Contains("cankit data fetch cifar10", e.Message);
        Assert.Contains("data_batch_3.bin missing", Assert.Throws<InvalidDataException>(() => Cifar10.Load(train: false, folder)).Message);
    }

    [Fact]
    public void TrainWithoutTestIsRefused()
    {
        string folder = SyntheticData.Cifar10Images(_dir, 1, 1);
        Directory.Delete(Path.Combine(folder, "test"), recursive: true);
        var e = Assert.Throws<InvalidDataException>(() => Cifar10.Load(train: true, folder));
        Assert.Equal($"{folder}: CIFAR-10 image folder has train/ but no test/ (expected train/<class>/ and test/<class>/)", e.Message);
    }

    [Fact]
    public void AMissingOrAnExtraClassFolderIsNamed()
    {
        string folder = SyntheticData.Cifar10Images(_dir, 1, 1);
        Directory.Delete(Path.Combine(folder, "test", "cat"), recursive: true);
        var missing = Assert.Throws<InvalidDataException>(() => Cifar10.Detect(folder));
        Assert.Equal($"{Path.Combine(folder, "test")}: CIFAR-10 class folders differ from the ten classes; missing: cat", missing.Message);

        SyntheticData.Cifar10Images(_dir, 1, 1);   // cat is back
        SyntheticData.Png(Path.Combine(folder, "train", "unicorn", "0000.png"), 9, side: 32);
        var extra = Assert.Throws<InvalidDataException>(() => Cifar10.Load(train: false, folder));
        Assert.Equal($"{Path.Combine(folder, "train")}: CIFAR-10 class folders differ from the ten classes; unexpected: unicorn", extra.Message);
    }

    [Fact]
    public void NothingThereNamesEachPlaceAndTheFetchAndImportCommands()
    {
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        var given = Assert.Throws<DirectoryNotFoundException>(() => Cifar10.Load(train: true, empty)).Message;
        Assert.DoesNotContain('\n', given);
        Assert.StartsWith("CIFAR-10 not found: looked for the binary batches (data_batch_1.bin … test_batch.bin) or train/ and test/ class folders", given);
        foreach (string place in new[] { empty, Path.Combine(empty, Cifar10.BatchesFolder), Path.Combine(empty, "cifar10"),
                                         Path.Combine(empty, "cifar10", Cifar10.BatchesFolder) })
            Assert.Contains($"{place} (the given data root", given);
        Assert.Contains($"`cankit data fetch cifar10 --data-root {empty}`", given);
        Assert.Contains($"`cankit data import cifar10 ARCHIVE --data-root {empty}`", given);

        if (!OperatingSystem.IsLinux()) return;   // XDG_DATA_HOME moves the per-user data folder on Linux only
        string xdg = Path.Combine(_dir, "xdg");
        var none = DataRootTests.With(() => Assert.Throws<DirectoryNotFoundException>(() => Cifar10.Resolve(null)).Message, (Env, empty), (Xdg, xdg));
        Assert.Contains($"{Path.Combine(empty, "cifar10")} ($CANKIT_DATA)", none);
        Assert.Contains($"{Path.Combine(xdg, "cankit", "cifar10", Cifar10.BatchesFolder)} (the per-user data folder)", none);
        Assert.Contains("`cankit data fetch cifar10`", none);
        Assert.Contains("`cankit data import cifar10 ARCHIVE`", none);
    }
}
