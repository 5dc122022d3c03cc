using CanKit.Data;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Image sets read from their cache file (positioned reads and a memory map) against the same set in memory: the
/// bytes, the batches, the order, the resumable cache build, 64-bit offsets, and the errors for damaged files.
/// Everything is compared bit for bit: the paths copy bytes and never compute with them.
/// </summary>
public sealed class FileBackedDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-filebacked-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const int Side = 12;

    [Fact]
    public void EveryStorageReadsBackTheDecodedImages()
    {
        var (root, images) = SyntheticData.PngFolder(_dir, classes: 3, perClass: 5, side: Side);
        ImageFolder.Load(root, Side);
        foreach (var storage in new[] { ImageStorage.Memory, ImageStorage.File, ImageStorage.Mapped, ImageStorage.Auto })
        {
            var set = ImageFolder.Open(root, Side, storage);
            Assert.Equal(storage is ImageStorage.Memory or ImageStorage.Auto, set.InMemory);   // 15 small images: Auto keeps them in memory
            Assert.Equal(Enumerable.Range(0, 15).Select(i => i / 5), set.Labels);
            for (int i = 0; i < images.Count; i++) Assert.True(images[i].AsSpan().SequenceEqual(set.Image(i)), $"{storage}: image {i} differs");
            var (raw, labels) = set.RawBatch([14, 0, 7]);
            using (raw) using (labels)
            {
                Assert.Equal(images[14].Concat(images[0]).Concat(images[7]).ToArray(), raw.bytes.ToArray());
                Assert.Equal(new long[] { 2, 0, 1 }, labels.data<long>().ToArray());
            }
            var head = set.Take(4);
            Assert.Equal(4, head.Count);
            Assert.Equal(images[3], head.Image(3));
            Assert.Throws<ArgumentOutOfRangeException>(() => head.Image(4));
            Assert.Equal(images[9], set.ToMemory().Image(9));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void LoaderBatchesAreTheSameFromMemoryFileAndMapAcrossEpochs(int workers)
    {
        var (root, _) = SyntheticData.PngFolder(_dir, classes: 2, perClass: 7, side: Side);
        ImageFolder.Load(root, Side);
        // 14 images, batches of 4: 3 batches an epoch; 7 batches from (0, 1) run into epoch 2, crossing two reshuffles.
        List<byte[]> Stream(ImageStorage storage, int threads)
        {
            var set = ImageFolder.Open(root, Side, storage);
            using var loader = new BatchLoader(set, 4, seed: 9, new DataPosition(0, 1), prefetch: 2, workers: threads);
            var batches = new List<byte[]>();
            for (int i = 0; i < 7; i++)
            {
                var (images, next) = loader.Next();
                using (images) batches.Add(images.bytes.ToArray());
                Assert.Equal(new DataPosition((i + 2) / 3, (i + 2) % 3), next);
            }
            return batches;
        }
        var reference = Stream(ImageStorage.Memory, 1);
        var memory = ImageFolder.Open(root, Side, ImageStorage.Memory);
        for (int i = 0; i < reference.Count; i++)
        {
            long abs = 1 + i;   // global batch number from (0, 0)
            int[] order = BatchLoader.Order(14, 9, abs / 3);
            var expected = order.AsSpan((int)(abs % 3) * 4, 4).ToArray().SelectMany(memory.Image).ToArray();
            Assert.True(expected.AsSpan().SequenceEqual(reference[i]), $"batch {i} is not the seeded order's");
        }
        foreach (var storage in new[] { ImageStorage.File, ImageStorage.Mapped })
        {
            var got = Stream(storage, workers);
            for (int i = 0; i < reference.Count; i++)
                Assert.True(reference[i].AsSpan().SequenceEqual(got[i]), $"{storage}, {workers} worker(s): batch {i} differs");
        }
    }

    [Fact]
    public void AnInterruptedCacheBuildContinuesToTheSameFile()
    {
        var (root, images) = SyntheticData.PngFolder(_dir, classes: 2, perClass: 5, side: Side);
        File.WriteAllBytes(Path.Combine(root, "c1", "bad.png"), [0x89, 0x50, 0x4E, 0x47, 1, 2]);   // sorted after 004.png: skipped
        string straight = Path.Combine(_dir, "straight");
        CopyTree(root, straight);
        ImageFolder.BuildCache(straight, Side, chunkFiles: 3);

        // Cancelled after the second chunk of 3 files is recorded; then the partial file gets bytes a killed
        // writer could have left past the record.
        using (var cts = new CancellationTokenSource())
        {
            var seen = new List<(int, int)>();
            Assert.ThrowsAny<OperationCanceledException>(() =>
                ImageFolder.BuildCache(root, Side, progress: new Recorder(p => { seen.Add(p); if (p.done == 6) cts.Cancel(); }),
                                       cancel: cts.Token, chunkFiles: 3));
            Assert.Equal([(0, 11), (3, 11), (6, 11)], seen);
        }
        Assert.False(File.Exists(ImageFolder.CachePath(root, Side)));
        using (var f = new FileStream(ImageFolder.PartialPath(root, Side), FileMode.Append)) f.Write(new byte[1000]);

        var resumed = new List<(int, int)>();
        var summary = ImageFolder.BuildCache(root, Side, progress: new Recorder(resumed.Add), chunkFiles: 3);
        Assert.Equal((6, 11), resumed[0]);   // no file before 6 decoded again
        Assert.Equal(6, summary.ResumedAtFile);
        Assert.Contains("resumed at file 6", summary.ToString());
        Assert.Equal(10, summary.Images);
        Assert.EndsWith("bad.png", Assert.Single(summary.Skipped).Path);
        Assert.False(File.Exists(ImageFolder.ProgressPath(root, Side)));
        Assert.False(File.Exists(ImageFolder.PartialPath(root, Side)));
        Assert.Equal(File.ReadAllBytes(ImageFolder.CachePath(straight, Side)), File.ReadAllBytes(ImageFolder.CachePath(root, Side)));
        var set = ImageFolder.Open(root, Side);
        for (int i = 0; i < images.Count; i++) Assert.Equal(images[i], set.Image(i));
        ImageFolder.VerifyCache(root, Side);

        // Another chunk size is another build: it starts over instead of mixing two layouts of progress.
        using (var cts = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() =>
                ImageFolder.BuildCache(root, Side, rebuild: true, progress: new Recorder(p => { if (p.done == 3) cts.Cancel(); }),
                                       cancel: cts.Token, chunkFiles: 3));
        var fresh = new List<(int, int)>();
        ImageFolder.BuildCache(root, Side, progress: new Recorder(fresh.Add), chunkFiles: 4);
        Assert.Equal((0, 11), fresh[0]);
    }

    [Fact]
    public void DamagedCacheFilesAreNamed()
    {
        var (root, _) = SyntheticData.PngFolder(_dir, classes: 2, perClass: 3, side: Side);
        ImageFolder.Load(root, Side);
        string bin = ImageFolder.CachePath(root, Side), index = ImageFolder.IndexPath(root, Side);

        // A flipped pixel byte: opening trusts the sizes, verification finds the chunk.
        var bytes = File.ReadAllBytes(bin);
        bytes[24 + 5 * 3 * Side * Side] ^= 1;   // image 5, past the 24-byte header
        File.WriteAllBytes(bin, bytes);
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.VerifyCache(root, Side));
        Assert.StartsWith($"{bin}: images 0..5 differ", e.Message);

        // Shrunk under an open file-backed set: the read names the file instead of returning short data.
        var open = ImageFolder.Open(root, Side, ImageStorage.File);
        using (var f = new FileStream(bin, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) f.SetLength(100);
        e = Assert.Throws<InvalidDataException>(() => open.Image(5));
        Assert.StartsWith($"{bin}: the file is now 100 bytes", e.Message);
        // ... and opening it again compares it with the index.
        e = Assert.Throws<InvalidDataException>(() => ImageFolder.Open(root, Side, ImageStorage.File));
        Assert.StartsWith($"{bin}: cache does not match its index", e.Message);

        File.WriteAllText(index, "{ not json");
        e = Assert.Throws<InvalidDataException>(() => ImageFolder.Open(root, Side));
        Assert.StartsWith($"{index}: not a cache index", e.Message);
        File.Delete(index);
        Assert.Contains("cankit data cache", Assert.Throws<FileNotFoundException>(() => ImageFolder.Open(root, Side)).Message);
    }

    [Fact]
    public void OffsetsPastTwoGibibytesReachTheRightBytes()
    {
        // A sparse cache of 14,300 images at 224² (2.15 GB of pixels, past 2^31) in which only the last image and
        // the labels are written: the disk holds a few hundred KB, the offsets are those of a real ImageNet-100 cache.
        const int side = 224, count = 14_300, imageBytes = 3 * side * side;
        string root = Path.Combine(_dir, "sparse");
        Directory.CreateDirectory(root);
        long pixelBytes = (long)count * imageBytes;
        Assert.True(pixelBytes > int.MaxValue);
        var last = new byte[imageBytes];
        new Random(1).NextBytes(last);
        string bin = ImageFolder.CachePath(root, side);
        using (var f = new FileStream(bin, FileMode.Create))
        {
            var header = new byte[24];
            "CKIMGF02"u8.CopyTo(header);
            BitConverter.TryWriteBytes(header.AsSpan(8), count);
            BitConverter.TryWriteBytes(header.AsSpan(12), 3);
            BitConverter.TryWriteBytes(header.AsSpan(16), side);
            BitConverter.TryWriteBytes(header.AsSpan(20), side);
            f.Write(header);
            f.Position = 24 + pixelBytes - imageBytes;
            f.Write(last);
            var labels = new byte[4 * count];
            BitConverter.TryWriteBytes(labels.AsSpan(4 * (count - 1)), 1);
            f.Write(labels);
        }
        long length = new FileInfo(bin).Length;
        File.WriteAllText(ImageFolder.IndexPath(root, side),
            $$"""{ "Version": 2, "Side": {{side}}, "Channels": 3, "Count": {{count}}, "Classes": ["a", "b"], "BinBytes": {{length}}, "Skipped": [] }""");

        Assert.Throws<InvalidDataException>(() => ImageFolder.Open(root, side, ImageStorage.Memory));   // past one array: refused, not overflowed
        foreach (var storage in new[] { ImageStorage.Auto, ImageStorage.File, ImageStorage.Mapped })
        {
            var set = ImageFolder.Open(root, side, storage);
            Assert.False(set.InMemory);
            Assert.Equal(pixelBytes, set.PixelBytes);
            Assert.Equal(1, set.Labels[^1]);
            Assert.Equal(last, set.Image(count - 1));
            Assert.All(set.Image(count - 2), b => Assert.Equal(0, b));
            var (raw, labels) = set.RawBatch([count - 1]);
            using (raw) using (labels) Assert.True(last.AsSpan().SequenceEqual(raw.bytes), $"{storage}: batch bytes differ");
            set.Storage.Dispose();
        }
    }

    private static void CopyTree(string from, string to)
    {
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }

    private sealed class Recorder(Action<(int done, int total)> a) : IProgress<(int done, int total)>
    {
        public void Report((int done, int total) value) => a(value);
    }
}
