namespace CanKit.Data;

/// <summary>
/// Loads the datasets the command line names: <c>fashion-mnist</c>, <c>cifar10</c>, <c>cifar100</c>, and
/// <c>folder-&lt;side&gt;</c>: an image folder with <c>train/</c> and <c>val/</c> class folders (Imagenette, an
/// ImageNet subset) at <c>side</c> px, through its cache (read from the file when it is larger than memory should hold).
/// Fashion-MNIST and CIFAR-10 need no root: without one they are looked for where <see cref="FashionMnist.Resolve"/> and
/// <see cref="Cifar10.Resolve"/> say.
/// </summary>
public static class Datasets
{
    public static readonly string[] Names = ["fashion-mnist", "cifar10", "cifar100", "folder-<side>"];

    public static bool IsKnown(string name) => Names[..^1].Contains(name.ToLowerInvariant()) || FolderSide(name) is not null;

    public static ImageSet Load(string name, string? root, bool train) => name.ToLowerInvariant() switch
    {
        "fashion-mnist" => FashionMnist.Load(train, root).ToImageSet(),   // no root: the data root search (DataRoot)
        "cifar10" => Cifar10.Load(train, root),   // binary batches or train/ test/ class folders, found as DataRoot says
        "cifar100" => CifarBinary.LoadCifar100(root ?? throw Missing(name), train),
        _ when FolderSide(name) is int side => ImageFolder.Load(Path.Combine(root ?? throw Missing(name), train ? "train" : "val"), side),
        _ => throw new ArgumentException($"unknown dataset '{name}' (expected {string.Join(", ", Names)})", nameof(name)),
    };

    private static int? FolderSide(string name) =>
        name.StartsWith("folder-", StringComparison.OrdinalIgnoreCase) && int.TryParse(name["folder-".Length..], out int side)
        && side is >= 1 and <= ImageFolder.MaxSide ? side : null;

    private static ArgumentException Missing(string name) =>
        new($"dataset '{name}' needs --data-root (fetch or build it with data-scripts/, see data-scripts/README.md)");
}
