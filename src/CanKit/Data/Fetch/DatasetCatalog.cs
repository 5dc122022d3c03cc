namespace CanKit.Data.Fetch;

/// <summary>What a correctly extracted dataset holds: files (with sizes where fixed) and image counts per folder.</summary>
public sealed record ExpectedLayout(IReadOnlyDictionary<string, long?> Files, IReadOnlyDictionary<string, int> ImageCounts);

/// <summary>One file of a data set that is published as plain files: its name under the source's URL and what it must be.</summary>
public sealed record DownloadFile(string Name, ExpectedFile Expected);

/// <summary>
/// One downloadable dataset: an archive, or (when <see cref="Files"/> is not empty) plain files under <see cref="Url"/>
/// that go straight into <see cref="Folder"/>. <see cref="Expected"/> (and each file's) holds the checksums the publisher
/// (or a widely used loader) states; <see cref="ChecksumNote"/> says where they come from and what is not known.
/// </summary>
public sealed record DatasetSource(string Id, string Title, Uri Url, string ArchiveName, ExpectedFile Expected, string ChecksumNote,
                                   string Folder, ExpectedLayout Layout)
{
    /// <summary>Plain files fetched one by one into <see cref="Folder"/> (no archive); empty for an archive.</summary>
    public IReadOnlyList<DownloadFile> Files { get; init; } = [];
}

/// <summary>The datasets `cankit data fetch` knows, with their official URLs.</summary>
public static class DatasetCatalog
{
    private const int CifarRecords = 10000;

    /// <summary>CIFAR-10, binary version: 5 train batches + 1 test batch of 10 000 records of 3 073 bytes.</summary>
    public static readonly DatasetSource Cifar10 = new(
        "cifar10", "CIFAR-10 (binary version)", new Uri("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"), "cifar-10-binary.tar.gz",
        new ExpectedFile(Md5: "c32a1d4ab5d03f1284b67883e8d87530"),
        "MD5 as published on https://www.cs.toronto.edu/~kriz/cifar.html; no SHA-256 is published (record one with `cankit data verify`)",
        "cifar-10-batches-bin",
        new ExpectedLayout(
            Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").Append("test_batch.bin")
                      .ToDictionary(f => $"cifar-10-batches-bin/{f}", _ => (long?)(CifarRecords * 3073))
                      .Append(new("cifar-10-batches-bin/batches.meta.txt", null)).ToDictionary(),
            new Dictionary<string, int>()));

    /// <summary>CIFAR-100, binary version: train.bin (50 000) and test.bin (10 000) records of 3 074 bytes.</summary>
    public static readonly DatasetSource Cifar100 = new(
        "cifar100", "CIFAR-100 (binary version)", new Uri("https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"), "cifar-100-binary.tar.gz",
        new ExpectedFile(Md5: "03b5dce01913d631647c71ecec9e9cb8"),
        "MD5 as published on https://www.cs.toronto.edu/~kriz/cifar.html; no SHA-256 is published",
        "cifar-100-binary",
        new ExpectedLayout(new Dictionary<string, long?>
        {
            ["cifar-100-binary/train.bin"] = 5L * CifarRecords * 3074,
            ["cifar-100-binary/test.bin"] = CifarRecords * 3074,
            ["cifar-100-binary/fine_label_names.txt"] = null,
            ["cifar-100-binary/coarse_label_names.txt"] = null,
        }, new Dictionary<string, int>()));

    /// <summary>Imagenette v2, shorter side 160 px: 10 ImageNet classes, 9 469 train / 3 925 val JPEGs.</summary>
    public static readonly DatasetSource Imagenette160 = Imagenette("160", "e793b78cc4c9e9a4ccc0c1155377a412");

    /// <summary>Imagenette v2, shorter side 320 px.</summary>
    public static readonly DatasetSource Imagenette320 = Imagenette("320", "3df6f0d01a2c9592104656642f5e78a3");

    /// <summary>
    /// Fashion-MNIST: the four gzip'd IDX files from the official mirror, into <c>fashion-mnist/</c> of a data root, where
    /// <see cref="Data.FashionMnist.Load"/> finds them. MD5s as the Fashion-MNIST README publishes them; sizes and SHA-256s
    /// are those of the files with these MD5s (Debian's <c>dataset-fashion-mnist</c> holds the same compressed data under a
    /// different gzip header, so its files have other checksums but the same contents).
    /// </summary>
    public static readonly DatasetSource FashionMnist = new(
        "fashion-mnist", "Fashion-MNIST", new Uri("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"), "", new ExpectedFile(),
        "MD5s as published in the Fashion-MNIST README (github.com/zalandoresearch/fashion-mnist); " +
        "sizes and SHA-256s of the files with those MD5s",
        Data.FashionMnist.FolderName, FashionMnistLayout(FashionMnistFiles))
    {
        Files = FashionMnistFiles,
    };

    private static DownloadFile[] FashionMnistFiles =>
    [
        new("train-images-idx3-ubyte.gz", new(26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                              "8d4fb7e6c68d591d4c3dfef9ec88bf0d")),
        new("train-labels-idx1-ubyte.gz", new(29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                              "25c81989df183df01b3e8a0aad5dffbe")),
        new("t10k-images-idx3-ubyte.gz", new(4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                             "bef4ecab320f06d8554ea6380940ec79")),
        new("t10k-labels-idx1-ubyte.gz", new(5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                             "bb300cfdad3c16e7a12a480ee83cd310")),
    ];

    private static ExpectedLayout FashionMnistLayout(IEnumerable<DownloadFile> files) =>
        new(files.ToDictionary(f => $"{Data.FashionMnist.FolderName}/{f.Name}", f => f.Expected.Size), new Dictionary<string, int>());

    /// <summary>Every dataset `cankit data fetch` knows (Fashion-MNIST last, so the archives' order in messages is unchanged).</summary>
    public static IReadOnlyList<DatasetSource> All { get; } = [Cifar10, Cifar100, Imagenette160, Imagenette320, FashionMnist];

    public static DatasetSource Find(string id) =>
        All.FirstOrDefault(s => s.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown dataset '{id}'; known: {string.Join(", ", All.Select(s => s.Id))}", nameof(id));

    /// <summary>Imagenette's WordNet ids and their ImageNet names, in folder (= label) order.</summary>
    public static readonly IReadOnlyDictionary<string, string> ImagenetteClasses = new Dictionary<string, string>
    {
        ["n01440764"] = "tench", ["n02102040"] = "English springer", ["n02979186"] = "cassette player", ["n03000684"] = "chain saw",
        ["n03028079"] = "church", ["n03394916"] = "French horn", ["n03417042"] = "garbage truck", ["n03425413"] = "gas pump",
        ["n03445777"] = "golf ball", ["n03888257"] = "parachute",
    };

    private static DatasetSource Imagenette(string px, string md5) => new(
        $"imagenette-{px}", $"Imagenette v2, {px} px", new Uri($"https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-{px}.tgz"), $"imagenette2-{px}.tgz",
        new ExpectedFile(Md5: md5),
        "MD5 as used by torchvision.datasets.Imagenette; the publisher (fastai) states no SHA-256",
        $"imagenette2-{px}",
        new ExpectedLayout(new Dictionary<string, long?>(), new Dictionary<string, int>
        {
            [$"imagenette2-{px}/train"] = 9469,
            [$"imagenette2-{px}/val"] = 3925,
        }));
}
