using CanKit.Data;
using CanKit.Training;

namespace CanKit.Tests;

/// <summary>Small data sets in the official file formats, written by the tests that need a real run folder.</summary>
internal static class SyntheticData
{
    /// <summary>CIFAR-10's five binary training batches and its test batch under <c>dir/cifar10</c>,
    /// <paramref name="perFile"/> random images each, labels cycling 0–9. Returns the folder.</summary>
    public static string Cifar10(string dir, int perFile)
    {
        string root = Path.Combine(dir, "cifar10");
        Directory.CreateDirectory(root);
        var rng = new Random(3);
        foreach (string file in new[] { "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch" })
        {
            var bytes = new byte[perFile * (1 + CifarBinary.PixelBytes)];
            rng.NextBytes(bytes);
            for (int i = 0; i < perFile; i++) bytes[i * (1 + CifarBinary.PixelBytes)] = (byte)(i % 10);
            File.WriteAllBytes(Path.Combine(root, file + ".bin"), bytes);
        }
        return root;
    }

    /// <summary>
    /// An image folder <c>dir/name/c&lt;k&gt;/&lt;i&gt;.png</c> of <paramref name="classes"/> × <paramref name="perClass"/>
    /// random RGB PNGs of <paramref name="side"/>² (lossless, so a cache at that side holds exactly these bytes).
    /// Returns the root and the images in load order (classes sorted, then files), each [3, side, side] bytes.
    /// </summary>
    public static (string Root, List<byte[]> Images) PngFolder(string dir, int classes, int perClass, int side, string name = "folder", int seed = 5)
    {
        string root = Path.Combine(dir, name);
        var rng = new Random(seed);
        var images = new List<byte[]>();
        for (int c = 0; c < classes; c++)
        {
            Directory.CreateDirectory(Path.Combine(root, $"c{c}"));
            for (int i = 0; i < perClass; i++)
            {
                var px = new byte[3 * side * side];
                rng.NextBytes(px);
                using var t = torch.tensor(px, [3, side, side]);
                File.WriteAllBytes(Path.Combine(root, $"c{c}", $"{i:D3}.png"), ImageCodec.EncodePng(t));
                images.Add(px);
            }
        }
        return (root, images);
    }

    /// <summary>A CIFAR-10 run small enough for tests: ViT 32×1, 2 heads, patch 8, 16 images per step.</summary>
    public static RunSpec TinySpec(string cifarRoot, long steps) => new("can", "paper", "cifar10", cifarRoot, Width: 32, Depth: 1, Heads: 2,
                                                                             PatchSize: 8, BatchSize: 16, Steps: steps, LearningRate: 1e-3);

    /// <summary>The same run as `cankit pretrain` flags (with <c>--out</c> <paramref name="run"/>).</summary>
    public static string[] TinyPretrainArgs(string cifarRoot, string run, long steps) =>
        ["pretrain", "--data", "cifar10", "--data-root", cifarRoot, "--width", "32", "--depth", "1", "--heads", "2", "--patch", "8", "--batch", "16",
         "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", run];

    /// <summary>Pre-trains <see cref="TinySpec"/> on <see cref="Cifar10"/> data (8 images per file) into <c>dir/run</c>.</summary>
    public static string TrainedRun(string dir, long steps = 1)
    {
        string run = Path.Combine(dir, "run");
        var outcome = PretrainRun.Pretrain(TinySpec(Cifar10(dir, perFile: 8), steps), run, CPU, checkpointEvery: 1, logEvery: 1);
        if (outcome != TrainOutcome.Completed) throw new InvalidOperationException("the tiny run did not complete");
        return run;
    }

    /// <summary>
    /// Fashion-MNIST's four idx files under <c>dir/fmnist</c> (uncompressed): <paramref name="train"/> and
    /// <paramref name="test"/> random 28×28 images, labels cycling 0–9. Returns the folder.
    /// </summary>
    public static string FashionMnist(string dir, int train, int test)
    {
        string root = Path.Combine(dir, "fmnist");
        Directory.CreateDirectory(root);
        var rng = new Random(5);
        foreach (var (prefix, n) in new[] { ("train", train), ("t10k", test) })
        {
            var images = new byte[16 + n * 28 * 28];
            rng.NextBytes(images);
            new byte[] { 0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28 }.CopyTo(images, 0);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), n);
            File.WriteAllBytes(Path.Combine(root, $"{prefix}-images-idx3-ubyte"), images);
            var labels = new byte[8 + n];
            new byte[] { 0, 0, 8, 1 }.CopyTo(labels, 0);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), n);
            for (int i = 0; i < n; i++) labels[8 + i] = (byte)(i % 10);
            File.WriteAllBytes(Path.Combine(root, $"{prefix}-labels-idx1-ubyte"), labels);
        }
        return root;
    }

    /// <summary>
    /// CIFAR-10 as an image folder under <c>dir/name</c>: <c>train/&lt;class&gt;/NNNN.png</c> and <c>test/&lt;class&gt;/…</c> for the
    /// ten classes (or <paramref name="classes"/>), 32×32 flat-colour PNGs whose colour is <see cref="Cifar10Colour"/> of the
    /// class and the file's number, so a loaded image says which file it came from. Returns the folder.
    /// </summary>
    public static string Cifar10Images(string dir, int trainPerClass, int testPerClass, string name = "cifar10-images",
                                       IEnumerable<string>? classes = null)
    {
        string root = Path.Combine(dir, name);
        foreach (var (split, count) in new[] { ("train", trainPerClass), ("test", testPerClass) })
            foreach (var (cls, c) in (classes ?? CanKit.Data.Cifar10.ClassNames).Select((n, c) => (n, c)))
                for (int i = 0; i < count; i++)
                {
                    string path = Path.Combine(root, split, cls, $"{i:D4}.png");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    var px = new byte[CifarBinary.PixelBytes];
                    var rgb = Cifar10Colour(c, i);
                    for (int ch = 0; ch < 3; ch++) Array.Fill(px, rgb[ch], ch * 1024, 1024);
                    using var t = torch.tensor(px, [3, 32, 32]);
                    File.WriteAllBytes(path, ImageCodec.EncodePng(t));
                }
        return root;
    }

    /// <summary>The colour of image <paramref name="index"/> of class <paramref name="cls"/> in <see cref="Cifar10Images"/>.</summary>
    public static byte[] Cifar10Colour(int cls, int index) => [(byte)(10 * cls + index), (byte)(200 - index), (byte)(255 - cls)];

    /// <summary>A flat-colour RGB PNG of <paramref name="side"/>² pixels at <paramref name="path"/>.</summary>
    public static void Png(string path, byte value, int side = 12)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var px = new byte[3 * side * side];
        Array.Fill(px, value);
        using var t = torch.tensor(px, [3, side, side]);
        File.WriteAllBytes(path, ImageCodec.EncodePng(t));
    }
}
