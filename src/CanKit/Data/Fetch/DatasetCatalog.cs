namespace CanKit.Data.Fetch;

/// <summary>What a correctly extracted dataset holds: files (with sizes where fixed) and image counts per folder.</summary>
public sealed record ExpectedLayout(IReadOnlyDictionary<string, long?> Files, IReadOnlyDictionary<string, int> ImageCounts);

/// <summary>
/// One downloadable dataset archive. <see cref="Expected"/> holds the checksums the publisher (or a widely used
/// loader) states; <see cref="ChecksumNote"/> says where they come from and what is not known.
/// </summary>
public sealed record DatasetSource(string Id, string Title, Uri Url, string ArchiveName, ExpectedFile Expected, string ChecksumNote,
                                   string Folder, ExpectedLayout Layout);

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

    public static IReadOnlyList<DatasetSource> All { get; } = [Cifar10, Cifar100, Imagenette160, Imagenette320];

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
