namespace CanKit.Data;

/// <summary>
/// Writes an ImageNet-layout folder of synthetic JPEGs (<c>root/train/cNNNN/*.JPEG</c>, <c>root/val/cNNNN/*.JPEG</c>)
/// for measuring the data path at ImageNet scale without ImageNet: sizes vary as ImageNet's do (mostly 500×375 and
/// 375×500, the rest with sides from 200 to 800), and the content (a smooth random field tinted per class, plus
/// pixel noise) compresses to about ImageNet's 110 KB per image at quality 90. Deterministic for a seed.
/// With <c>distinct</c> &gt; 0, file k holds the bytes of file k mod distinct: a folder of many
/// files for a fraction of the encoding time (each file is still read and decoded on its own when cached).
/// </summary>
public static class SyntheticImageFolder
{
    /// <summary>Writes the folder; returns the total bytes of JPEG written. <paramref name="progress"/> gets (written, total).</summary>
    public static long Write(string root, int classes, int trainPerClass, int valPerClass, ulong seed = 0, int quality = 90, int distinct = 0,
                             IProgress<(int done, int total)>? progress = null, CancellationToken cancel = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(distinct);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(trainPerClass, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(valPerClass);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        var jobs = new List<(string Path, int Class, long Id)>();
        foreach (var (split, per) in new[] { ("train", trainPerClass), ("val", valPerClass) })
            for (int c = 0; c < classes; c++)
            {
                if (per == 0) continue;
                string dir = Path.Combine(root, split, $"c{c:D4}");
                Directory.CreateDirectory(dir);
                for (int i = 0; i < per; i++) jobs.Add((Path.Combine(dir, $"{split}_{c:D4}_{i:D5}.JPEG"), c, jobs.Count));
            }
        long bytes = 0;
        int done = 0;
        var pool = new System.Collections.Concurrent.ConcurrentDictionary<long, Lazy<byte[]>>();
        var opts = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancel };
        Parallel.ForEach(jobs, opts, job =>
        {
            long id = distinct > 0 ? job.Id % distinct : job.Id;
            byte[] jpeg = distinct > 0
                ? pool.GetOrAdd(id, k => new Lazy<byte[]>(() => Image(jobs[(int)k].Class, seed * 0x9E3779B97F4A7C15UL + (ulong)k, quality))).Value
                : Image(job.Class, seed * 0x9E3779B97F4A7C15UL + (ulong)id, quality);
            File.WriteAllBytes(job.Path, jpeg);
            Interlocked.Add(ref bytes, jpeg.Length);
            int n = Interlocked.Increment(ref done);
            if (n % 256 == 0 || n == jobs.Count) progress?.Report((n, jobs.Count));
        });
        return bytes;
    }

    /// <summary>One encoded JPEG of class <paramref name="cls"/>, fixed by <paramref name="seed"/>.</summary>
    public static byte[] Image(int cls, ulong seed, int quality = 90)
    {
        var rng = new Random((int)(seed ^ (seed >> 32)));
        double u = rng.NextDouble();
        // ImageNet: about 3 in 4 images are 500×375 or 375×500; the rest vary.
        var (h, w) = u < 0.45 ? (375, 500) : u < 0.75 ? (500, 375) : (rng.Next(200, 801), rng.Next(200, 801));
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(seed);
        var field = torch.rand([1, 3, h / 24 + 2, w / 24 + 2], generator: g);                          // [1, 3, h', w'] coarse
        var smooth = nn.functional.interpolate(field, [h, w], mode: InterpolationMode.Bilinear, align_corners: false)[0];  // [3, h, w]
        var tint = torch.tensor(new[] { (cls * 37 % 100) / 100f, (cls * 61 % 100) / 100f, (cls * 83 % 100) / 100f }).view(3, 1, 1);
        var noise = torch.randn([3, h, w], generator: g) * 0.035;
        var img = ((smooth * 0.7 + tint * 0.3 + noise) * 255).clamp(0, 255).to(ScalarType.Byte);      // [3, h, w]
        return ImageCodec.EncodeJpeg(img, quality);
    }
}
