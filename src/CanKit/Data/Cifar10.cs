namespace CanKit.Data;

/// <summary>The two forms a CIFAR-10 folder may take.</summary>
public enum Cifar10Form
{
    /// <summary>The original binary batches (<c>data_batch_1..5.bin</c>, <c>test_batch.bin</c>) as fetched.</summary>
    Binary,
    /// <summary>An image-folder copy: <c>train/&lt;class&gt;/*.jpg|png</c> and <c>test/&lt;class&gt;/…</c>.</summary>
    ImageFolder,
}

/// <summary>
/// CIFAR-10 from either form, found like every data set (<see cref="DataRoot"/>): the given root or, without one,
/// <c>$CANKIT_DATA/cifar10</c> and the per-user data folder's <c>cifar10/</c>; in each place the folder itself or its
/// <c>cifar-10-batches-bin/</c> (what <c>cankit data fetch cifar10</c> extracts). A folder holding the binaries is read by
/// <see cref="CifarBinary"/>; one holding <c>train/</c> and <c>test/</c> class folders by <see cref="Data.ImageFolder"/>
/// (decoded once into its cache at 32 px). A folder with both forms, or with part of one, is refused in one line that
/// names what is there and what is missing.
/// <para>An image-folder copy has no batch order (its files are numbered per class), so its images are interleaved by
/// class — image k of every class before image k + 1 of any — and any tail of the training set, such as the validation
/// images a run holds out (<c>--holdout</c>), holds the classes in equal numbers, as the shuffled batches do.</para>
/// </summary>
public static class Cifar10
{
    public const string FolderName = "cifar10";
    public const string BatchesFolder = "cifar-10-batches-bin";
    public const int Side = 32;
    /// <summary>Images in the official splits: 5000 per class in train, 1000 per class in test.</summary>
    public const int TrainCount = 50_000, TestCount = 10_000;

    public static readonly string[] ClassNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
    public static readonly string[] BinaryFiles = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                                                   "data_batch_5.bin", "test_batch.bin"];
    public static readonly string[] Splits = ["train", "test"];

    /// <summary>Loads the train (50 000) or test (10 000) split from the folder <see cref="Resolve"/> finds.</summary>
    public static ImageSet Load(bool train, string? root = null, IProgress<(int done, int total)>? progress = null)
    {
        var (folder, form) = Resolve(root);
        return form == Cifar10Form.Binary ? CifarBinary.LoadCifar10(folder, train) : LoadFolder(folder, train, progress);
    }

    /// <summary>
    /// The folder CIFAR-10 is read from and its form. A given <paramref name="root"/> is used alone (itself, its
    /// <c>cifar10/</c>, and the <c>cifar-10-batches-bin/</c> of each); a folder there with part of a form or both forms is
    /// an <see cref="InvalidDataException"/> naming it. Nothing found: a <see cref="DirectoryNotFoundException"/> naming
    /// every place looked at and the fetch command.
    /// </summary>
    public static (string Folder, Cifar10Form Form) Resolve(string? root)
    {
        var places = DataRoot.Places(FolderName, root is null ? null : Path.GetFullPath(root));
        var looked = new List<DataRoot.Place>();
        foreach (var place in places)
        {
            foreach (var candidate in new[] { place, new DataRoot.Place(Path.Combine(place.Folder, BatchesFolder), place.Why) })
            {
                looked.Add(candidate);
                if (Directory.Exists(candidate.Folder) && Detect(candidate.Folder) is { } form) return (candidate.Folder, form);
            }
        }
        throw new DirectoryNotFoundException(DataRoot.Missing(FolderName, "CIFAR-10", root, looked,
            $"the binary batches ({BinaryFiles[0]} … {BinaryFiles[^1]}) or train/ and test/ class folders") +
            $"; or import a local copy with `cankit data import {FolderName} ARCHIVE{(root is null ? "" : $" --data-root {Quote(root)}")}`");
    }

    private static string Quote(string root) => Path.GetFullPath(root) is var p && p.Contains(' ') ? $"\"{p}\"" : p;

    /// <summary>
    /// The form <paramref name="folder"/> holds, or null when it holds nothing of CIFAR-10. Part of a form, or both, is an
    /// <see cref="InvalidDataException"/> naming the folder, what is there and what is missing.
    /// </summary>
    public static Cifar10Form? Detect(string folder)
    {
        var bins = BinaryFiles.Where(f => File.Exists(Path.Combine(folder, f))).ToArray();
        var splits = Splits.Where(s => Directory.Exists(Path.Combine(folder, s))).ToArray();
        if (bins.Length > 0 && splits.Length > 0)
            throw new InvalidDataException($"{folder}: holds both CIFAR-10 forms ({string.Join(", ", bins)} and {string.Join("/, ", splits)}/); " +
                                           "keep one form per folder (the binary batches or train/ and test/ class folders)");
        if (bins.Length > 0)
        {
            var missing = BinaryFiles.Except(bins).ToArray();
            if (missing.Length > 0)
                throw new InvalidDataException($"{folder}: CIFAR-10 binary batches are incomplete: {string.Join(", ", missing)} missing " +
                                               $"({bins.Length} of {BinaryFiles.Length} present); fetch them again with `cankit data fetch cifar10`");
            return Cifar10Form.Binary;
        }
        if (splits.Length == 0) return null;
        if (splits.Length < Splits.Length)
            throw new InvalidDataException($"{folder}: CIFAR-10 image folder has {splits[0]}/ but no {Splits.Except(splits).Single()}/ " +
                                           "(expected train/<class>/ and test/<class>/)");
        foreach (string split in Splits)
        {
            string dir = Path.Combine(folder, split);
            var classes = Directory.GetDirectories(dir).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).ToHashSet();
            var missing = ClassNames.Where(c => !classes.Contains(c)).ToArray();
            var extra = classes.Where(c => !ClassNames.Contains(c)).Order(StringComparer.Ordinal).ToArray();
            if (missing.Length > 0 || extra.Length > 0)
                throw new InvalidDataException($"{dir}: CIFAR-10 class folders differ from the ten classes" +
                                               (missing.Length > 0 ? $"; missing: {string.Join(", ", missing)}" : "") +
                                               (extra.Length > 0 ? $"; unexpected: {string.Join(", ", extra)}" : ""));
        }
        return Cifar10Form.ImageFolder;
    }

    private static ImageSet LoadFolder(string folder, bool train, IProgress<(int done, int total)>? progress)
    {
        string dir = Path.Combine(folder, train ? "train" : "test");
        var set = ImageFolder.Load(dir, Side, out var summary, failOnUnreadable: true, progress: progress, storage: ImageStorage.Memory);
        if (summary.Skipped.Count > 0)
            throw new InvalidDataException($"{dir}: {summary.Skipped.Count} unreadable image(s), first: {summary.Skipped[0].Path}");
        return Interleave(set, "CIFAR-10 (image folder)");
    }

    /// <summary>
    /// The images of <paramref name="set"/> reordered so that the k-th image of every class comes before the (k+1)-th of
    /// any (classes in label order); the relative order within a class is kept. CIFAR-10's normalisation.
    /// </summary>
    public static ImageSet Interleave(ImageSet set, string name)
    {
        var byClass = Enumerable.Range(0, set.ClassNames.Count).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < set.Count; i++) byClass[set.Labels[i]].Add(i);
        var order = new List<int>(set.Count);
        int longest = byClass.Max(c => c.Count);
        for (int k = 0; k < longest; k++)
            foreach (var members in byClass) if (k < members.Count) order.Add(members[k]);
        var px = new byte[set.PixelBytes];
        var labels = new int[set.Count];
        for (int j = 0; j < order.Count; j++)
        {
            set.CopyImage(order[j], px.AsSpan(j * set.ImageBytes, set.ImageBytes));
            labels[j] = set.Labels[order[j]];
        }
        return new ImageSet(name, px, labels, set.Channels, set.Height, set.Width, set.ClassNames, Normalization.Cifar10);
    }
}
