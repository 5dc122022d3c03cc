namespace CanKit.Data;

/// <summary>
/// Fashion-MNIST (Xiao et al. 2017): 60k train / 10k test 28×28 grayscale images in 10 classes, from the four IDX files
/// (gzip'd or not) in the folder <see cref="Resolve"/> finds: the given root, else <c>$CANKIT_DATA/fashion-mnist</c>, the
/// per-user data folder's <c>fashion-mnist/</c> (what <c>cankit data fetch fashion-mnist</c> writes) or Debian's
/// <c>dataset-fashion-mnist</c> (<see cref="DebianRoot"/>), see <see cref="DataRoot"/>.
/// </summary>
public sealed class FashionMnist
{
    /// <summary>The data set's folder name under a data root.</summary>
    public const string FolderName = "fashion-mnist";

    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the files (looked at last, on Linux).</summary>
    public const string DebianRoot = "/usr/share/datasets/fashion-mnist";

    /// <summary>The four IDX files without their <c>.gz</c> (each may be gzip'd or not).</summary>
    public static readonly string[] Files =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>
    /// The folder <see cref="Load"/> reads when given no root: the first of <c>$CANKIT_DATA/fashion-mnist</c>, the per-user
    /// data folder's <c>fashion-mnist/</c> and <see cref="DebianRoot"/> that holds the four files. A
    /// <see cref="DirectoryNotFoundException"/> naming each place and the fetch command when none does.
    /// </summary>
    public static string DefaultRoot => Resolve(null);

    public static readonly string[] ClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Pixels, [N, 28, 28] row-major bytes.</summary>
    public byte[] Images { get; }
    public byte[] Labels { get; }
    public int Count => Labels.Length;
    public const int Height = 28, Width = 28;

    private FashionMnist(byte[] images, byte[] labels) => (Images, Labels) = (images, labels);

    /// <summary>
    /// Loads the train (60k) or test (10k) split from <paramref name="root"/> (a folder with the files, or a data root with
    /// a <c>fashion-mnist/</c> sub-folder), or without one from the folder <see cref="DefaultRoot"/> finds.
    /// </summary>
    public static FashionMnist Load(bool train, string? root = null)
    {
        root = Resolve(root);
        string prefix = train ? "train" : "t10k";
        string images = Find(root, $"{prefix}-images-idx3-ubyte");
        string labels = Find(root, $"{prefix}-labels-idx1-ubyte");
        var img = IdxFile.Read(images);
        var lab = IdxFile.Read(labels);
        if (img.Shape.Length != 3 || img.Shape[1] != Height || img.Shape[2] != Width)
            throw new InvalidDataException($"{images}: expected [N, 28, 28] images, got [{string.Join(", ", img.Shape)}]");
        if (lab.Shape.Length != 1 || lab.Shape[0] != img.Shape[0])
            throw new InvalidDataException($"{labels}: {string.Join("×", lab.Shape)} labels for {img.Shape[0]} images");
        // Labels are range-checked here, where the file is known, not at evaluation (a cross-entropy "target out of bounds").
        int bad = Array.FindIndex(lab.Data, l => l >= ClassNames.Length);
        if (bad >= 0)
            throw new InvalidDataException($"{labels}: label {lab.Data[bad]} of image {bad} " +
                                           $"at byte {IdxFile.DataOffset(1) + bad} (uncompressed) is outside 0..{ClassNames.Length - 1}");
        return new FashionMnist(img.Data, lab.Data);
    }

    /// <summary>
    /// The folder the files are read from (see <see cref="DefaultRoot"/>). A given <paramref name="root"/> is used alone:
    /// itself when it holds any of the files (a missing one is then named when loaded), else its <c>fashion-mnist/</c>.
    /// </summary>
    public static string Resolve(string? root) =>
        DataRoot.Find(FolderName, "Fashion-MNIST", root, HoldsAll, $"{Files[0]}(.gz) and the other three IDX files",
                      rootHolds: dir => Files.Any(f => Has(dir, f)),
                      system: OperatingSystem.IsLinux() ? new DataRoot.Place(DebianRoot, "Debian's dataset-fashion-mnist") : null);

    /// <summary>Whether <paramref name="folder"/> holds all four files (each gzip'd or not).</summary>
    public static bool HoldsAll(string folder) => Files.All(f => Has(folder, f));

    private static bool Has(string folder, string stem) =>
        File.Exists(Path.Combine(folder, stem)) || File.Exists(Path.Combine(folder, stem + ".gz"));

    private static string Find(string root, string stem)
    {
        foreach (string name in new[] { stem, stem + ".gz" })
        {
            string p = Path.Combine(root, name);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"Fashion-MNIST file {stem}(.gz) not found in {root}; " +
                                        $"fetch the four files with `cankit data fetch fashion-mnist`", Path.Combine(root, stem));
    }

    /// <summary>As an <see cref="ImageSet"/> (1 channel, 28×28, Fashion-MNIST normalisation).</summary>
    public ImageSet ToImageSet() =>
        new("Fashion-MNIST", Images, Labels.Select(l => (int)l).ToArray(), 1, Height, Width, ClassNames, Normalization.FashionMnist);

    /// <summary>Images [n, 1, 28, 28] as float32 in [0, 1] and labels [n] int64, for the given sample indices.</summary>
    public (Tensor Images, Tensor Labels) Batch(ReadOnlySpan<int> indices)
    {
        const int px = Height * Width;
        var x = new float[indices.Length * px];
        var y = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int k = indices[i];
            if ((uint)k >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(indices), k, $"Fashion-MNIST has {Count} images");
            for (int j = 0; j < px; j++) x[i * px + j] = Images[k * px + j] / 255f;
            y[i] = Labels[k];
        }
        return (torch.tensor(x, [indices.Length, 1, Height, Width], ScalarType.Float32), torch.tensor(y, [indices.Length], ScalarType.Int64));
    }
}
