namespace CanKit.Data;

/// <summary>
/// CIFAR-10 / CIFAR-100 in their official binary format. CIFAR-10: <c>data_batch_1..5.bin</c>, <c>test_batch.bin</c>,
/// records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, row-major 32×32), class names in
/// <c>batches.meta.txt</c>. CIFAR-100: <c>train.bin</c>, <c>test.bin</c>, records of coarse label, fine label +
/// 3072 pixels, names in <c>fine_label_names.txt</c>. Errors name the file and byte offset.
/// </summary>
public static class CifarBinary
{
    public const int Side = 32, PixelBytes = 3 * Side * Side;

    public static ImageSet LoadCifar10(string root, bool train)
    {
        string[] files = train ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray() : ["test_batch.bin"];
        var names = ReadNames(root, "batches.meta.txt", 10);
        return Load("CIFAR-10", root, files, labelBytes: 1, labelIndex: 0, names, Normalization.Cifar10, classes: 10);
    }

    /// <summary>CIFAR-100 with its 100 fine labels.</summary>
    public static ImageSet LoadCifar100(string root, bool train)
    {
        var names = ReadNames(root, "fine_label_names.txt", 100);
        return Load("CIFAR-100", root, [train ? "train.bin" : "test.bin"], labelBytes: 2, labelIndex: 1, names, Normalization.Cifar100, classes: 100);
    }

    private static ImageSet Load(string name, string root, string[] files, int labelBytes, int labelIndex,
                                 IReadOnlyList<string> names, Normalization norm, int classes)
    {
        int record = labelBytes + PixelBytes;
        var pixels = new List<byte[]>();
        var labels = new List<int>();
        foreach (string f in files)
        {
            string path = Path.Combine(root, f);
            if (!File.Exists(path))
                throw new FileNotFoundException($"{name} file {path} not found; fetch the data set with " +
                                                $"`cankit data fetch {name.Replace("-", "").ToLowerInvariant()}` (or data-scripts/fetch-cifar.sh)", path);
            byte[] bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0) throw new InvalidDataException($"{path}: empty file");
            if (bytes.Length % record != 0)
                throw new InvalidDataException($"{path}: truncated or corrupt: " +
                                               $"{bytes.Length} bytes is not a whole number of {record}-byte records; " +
                                               $"the last record starts at byte {bytes.Length / record * record} " +
                                               $"and is {bytes.Length % record} bytes long");
            int n = bytes.Length / record;
            var px = new byte[n * PixelBytes];
            for (int i = 0; i < n; i++)
            {
                int label = bytes[i * record + labelIndex];
                if (label >= classes) throw new InvalidDataException($"{path}: label {label} at byte {i * record + labelIndex} is outside 0..{classes - 1}");
                labels.Add(label);
                Buffer.BlockCopy(bytes, i * record + labelBytes, px, i * PixelBytes, PixelBytes);
            }
            pixels.Add(px);
        }
        return new ImageSet(name, pixels.SelectMany(p => p).ToArray(), labels.ToArray(), 3, Side, Side, names, norm);
    }

    private static IReadOnlyList<string> ReadNames(string root, string file, int count)
    {
        string path = Path.Combine(root, file);
        if (!File.Exists(path)) return Enumerable.Range(0, count).Select(i => i.ToString()).ToArray();
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        if (names.Length != count) throw new InvalidDataException($"{path}: expected {count} class names, found {names.Length}");
        return names;
    }
}
