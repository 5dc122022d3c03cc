using System.IO.Compression;
using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

/// <summary>Dataset readers on files written here in the official formats, good and broken.</summary>
public sealed class DataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-data-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Idx(byte type, int[] shape, byte[] data)
    {
        var ms = new MemoryStream();
        ms.Write([0, 0, type, (byte)shape.Length]);
        foreach (int s in shape) ms.Write([(byte)(s >> 24), (byte)(s >> 16), (byte)(s >> 8), (byte)s]);
        ms.Write(data);
        return ms.ToArray();
    }

    private string Write(string name, byte[] bytes, bool gzip = false)
    {
        string path = Path.Combine(_dir, name);
        if (!gzip) File.WriteAllBytes(path, bytes);
        else
        {
            using var f = File.Create(path);
            using var z = new GZipStream(f, CompressionLevel.Fastest);
            z.Write(bytes);
        }
        return path;
    }

    [Fact]
    public void IdxReadsPlainAndGzip()
    {
        var data = Enumerable.Range(0, 2 * 3 * 4).Select(i => (byte)i).ToArray();
        foreach (bool gz in new[] { false, true })
        {
            var c = IdxFile.Read(Write(gz ? "a.gz" : "a", Idx(0x08, [2, 3, 4], data), gz));
            Assert.Equal(new[] { 2, 3, 4 }, c.Shape);
            Assert.Equal(data, c.Data);
        }
    }

    [Fact]
    public void IdxErrorsNameTheFileAndOffset()
    {
        var good = Idx(0x08, [2, 3, 4], new byte[24]);
        string trunc = Write("trunc", good[..20]);
        var e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(trunc));
        Assert.Contains(trunc, e.Message);
        Assert.Contains("truncated at byte 20", e.Message);

        var badMagic = (byte[])good.Clone();
        badMagic[0] = 7;
        string bm = Write("magic", badMagic);
        e = Assert.Throws<InvalidDataException>(() => IdxFile.Read(bm));
        Assert.Contains("bad IDX magic", e.Message);
        Assert.Contains(bm, e.Message);

        string ft = Write("float", Idx(0x0D, [2], new byte[8]));
        Assert.Contains("not unsigned byte", Assert.Throws<InvalidDataException>(() => IdxFile.Read(ft)).Message);

        string huge = Write("huge", Idx(0x08, [int.MaxValue, int.MaxValue], []));
        Assert.Contains("exceed", Assert.Throws<InvalidDataException>(() => IdxFile.Read(huge)).Message);

        Assert.Throws<FileNotFoundException>(() => IdxFile.Read(Path.Combine(_dir, "missing")));
        var missing = Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Load(true, _dir));
        Assert.Contains($"cankit data fetch fashion-mnist --data-root {_dir}", missing.Message);
    }

    private static byte[] CifarRecords(int n, int labelBytes, Func<int, int> label)
    {
        var b = new byte[n * (labelBytes + CifarBinary.PixelBytes)];
        for (int i = 0; i < n; i++)
        {
            int o = i * (labelBytes + CifarBinary.PixelBytes);
            for (int k = 0; k < labelBytes; k++) b[o + k] = (byte)label(i);
            for (int p = 0; p < CifarBinary.PixelBytes; p++) b[o + labelBytes + p] = (byte)((i * 7 + p) % 251);
        }
        return b;
    }

    [Fact]
    public void Cifar10ReadsTheOfficialLayout()
    {
        for (int f = 1; f <= 5; f++) Write($"data_batch_{f}.bin", CifarRecords(3, 1, i => (i + f) % 10));
        Write("test_batch.bin", CifarRecords(2, 1, i => 9 - i));
        File.WriteAllLines(Path.Combine(_dir, "batches.meta.txt"), ["airplane", "automobile", "bird", "cat", "deer",
                                                                    "dog", "frog", "horse", "ship", "truck", ""]);
        var train = CifarBinary.LoadCifar10(_dir, train: true);
        Assert.Equal(15, train.Count);
        Assert.Equal(new[] { 2, 3, 4 }, train.Labels[3..6]);   // data_batch_2: (i + 2) % 10
        var test = CifarBinary.LoadCifar10(_dir, train: false);
        Assert.Equal(new[] { 9, 8 }, test.Labels);
        Assert.Equal("truck", test.ClassNames[9]);
        // Image 1 of the test file: pixel p = (7 + p) % 251; the red plane comes first, then green.
        var (img, lab) = test.RawBatch([1]);
        using (img) using (lab)
        {
            byte[] px = img.Host<byte>();
            Assert.Equal(new long[] { 1, 3, 32, 32 }, img.shape);
            Assert.Equal(ScalarType.Byte, img.dtype);
            Assert.Equal(new long[] { 8 }, lab.Host<long>());
            Assert.Equal((byte)7, px[0]);
            Assert.Equal((byte)((7 + 1024) % 251), px[1024]);
        }
    }

    [Fact]
    public void Cifar100UsesFineLabelsAndRejectsCorruptFiles()
    {
        var recs = CifarRecords(4, 2, i => 0);
        for (int i = 0; i < 4; i++) recs[i * (2 + CifarBinary.PixelBytes) + 1] = (byte)(90 + i);   // fine label
        Write("train.bin", recs);
        var set = CifarBinary.LoadCifar100(_dir, train: true);
        Assert.Equal(new[] { 90, 91, 92, 93 }, set.Labels);

        string path = Write("test.bin", recs[..(recs.Length - 100)]);
        var e = Assert.Throws<InvalidDataException>(() => CifarBinary.LoadCifar100(_dir, train: false));
        Assert.Contains(path, e.Message);
        Assert.Contains($"starts at byte {3 * (2 + CifarBinary.PixelBytes)}", e.Message);

        recs[1] = 200;
        Write("test.bin", recs);
        Assert.Contains("label 200 at byte 1", Assert.Throws<InvalidDataException>(() => CifarBinary.LoadCifar100(_dir, train: false)).Message);
        Assert.Contains("`cankit data fetch cifar10`", Assert.Throws<FileNotFoundException>(() => CifarBinary.LoadCifar10(_dir, train: true)).Message);
        Assert.Contains("`cankit data fetch cifar100`", Assert.Throws<FileNotFoundException>(() => CifarBinary.LoadCifar100(Path.Combine(_dir, "none"), train: true)).Message);
    }

    [Fact]
    public void NormalizeRoundTrips()
    {
        byte[] px = [0, 51, 255, 128, 1, 2];
        using var raw = torch.tensor(px, [1, 3, 1, 2]);
        var norm = Normalization.Cifar10;
        using var x = ImageSet.Normalize(raw, norm);
        Assert.Equal(ScalarType.Float32, x.dtype);
        float[] v = x.Host<float>();
        // Two float32 roundings (x/255, −mean) and a division: a few ulps of values ≤ ~2.
        Assert.Equal((0 / 255f - norm.Mean[0]) / norm.Std[0], v[0], 1e-6);
        Assert.Equal((255 / 255f - norm.Mean[1]) / norm.Std[1], v[2], 1e-6);
        using var back = ImageSet.Denormalize(x, norm);
        float[] b = back.Host<float>();
        for (int i = 0; i < 6; i++) Assert.Equal(px[i] / 255f, b[i], 1e-6);
        Assert.Throws<ArgumentException>(() => ImageSet.Normalize(raw, Normalization.FashionMnist));   // 3 channels vs 1
    }

    [Fact]
    public void FashionMnistBatchesScaledPixelsAndLabels()
    {
        // Two 28×28 images: image i has pixel j = (i·7 + j) % 256, labels 3 and 9.
        var images = Enumerable.Range(0, 2 * 28 * 28).Select(k => (byte)((k / 784 * 7 + k % 784) % 256)).ToArray();
        Write("train-images-idx3-ubyte", Idx(0x08, [2, 28, 28], images));
        Write("train-labels-idx1-ubyte.gz", Idx(0x08, [2], [3, 9]), gzip: true);
        var set = FashionMnist.Load(true, _dir);
        Assert.Equal(2, set.Count);
        var (x, y) = set.Batch([1, 0]);
        using (x) using (y)
        {
            Assert.Equal(new long[] { 2, 1, 28, 28 }, x.shape);
            Assert.Equal(new long[] { 9, 3 }, y.Host<long>());
            float[] v = x.Host<float>();
            Assert.Equal(7 / 255f, v[0]);
            Assert.Equal(0f, v[784]);
            Assert.Equal(255 / 255f, v[784 + 255]);
        }
        var batch = set.ToImageSet().Batch([0]);
        using (batch.Images) using (batch.Labels)
            Assert.Equal((0 - 0.2860f) / 0.3530f, batch.Images.Host<float>()[0], 1e-6);
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Batch([2]));
    }
}
