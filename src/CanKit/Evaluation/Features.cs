using CanKit.Data;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Evaluation;

/// <summary>Frozen encoder features: the mean of the patch tokens of the full, un-augmented image.</summary>
public static class Features
{
    /// <summary>[N, D] float32 features and [N] int64 labels of every image of <paramref name="data"/> (on CPU).</summary>
    /// <remarks>
    /// <paramref name="lastBlocks"/> &gt; 1 concatenates the mean-pooled (normed) patch tokens of the encoder's last blocks, last
    /// block first: [N, lastBlocks·D] (DINO's linear evaluation of a ViT-S concatenates its last four blocks).
    /// </remarks>
    public static (Tensor Features, Tensor Labels) Extract(VisionTransformer encoder, ImageSet data, Device device, int batchSize = 256,
                                                           IProgress<(int Done, int Total)>? progress = null, int lastBlocks = 1)
    {
        if (lastBlocks < 1 || lastBlocks > encoder.Config.Depth)
            throw new ArgumentOutOfRangeException(nameof(lastBlocks), lastBlocks, $"must be in [1, {encoder.Config.Depth}] (the encoder's depth)");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be > 0");
        using var noGrad = no_grad();
        bool wasTraining = encoder.training;
        encoder.eval();
        var parts = new List<Tensor>();
        try
        {
            int[] all = Enumerable.Range(0, data.Count).ToArray();
            for (int i = 0; i < data.Count; i += batchSize)
            {
                using var scope = NewDisposeScope();
                var (x, _) = data.Batch(all.AsSpan(i, Math.Min(batchSize, data.Count - i)), device);   // [b, C, H, W]
                var f = lastBlocks == 1
                    ? ProjectionHead.MeanPool(encoder.forward(x), encoder.HasClsToken).cpu()               // [b, D]
                    : cat(encoder.ForwardLastBlocks(x, lastBlocks).Reverse()
                                 .Select(t => ProjectionHead.MeanPool(t, encoder.HasClsToken)).ToList(), 1).cpu();   // [b, k·D]
                parts.Add(f.MoveToOuterDisposeScope());
                progress?.Report((Math.Min(i + batchSize, data.Count), data.Count));
            }
            var labels = tensor(data.Labels.Select(l => (long)l).ToArray());                              // [N]
            return (cat(parts, 0), labels);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
            encoder.train(wasTraining);
        }
    }

    /// <summary>
    /// The raw-pixel baseline's "features": every image's normalised pixels flattened, [N, C·H·W] float32, with int64 labels
    /// [N] (on CPU). Under the same probe (which standardises each feature) and kNN this is the line an encoder must clear.
    /// </summary>
    public static (Tensor Features, Tensor Labels) Pixels(ImageSet data, int batchSize = 4096)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be > 0");
        var parts = new List<Tensor>();
        try
        {
            int[] all = Enumerable.Range(0, data.Count).ToArray();
            for (int i = 0; i < data.Count; i += batchSize)
            {
                using var scope = NewDisposeScope();
                var (x, _) = data.Batch(all.AsSpan(i, Math.Min(batchSize, data.Count - i)));          // [b, C, H, W]
                parts.Add(x.flatten(1).MoveToOuterDisposeScope());                                    // [b, C·H·W]
            }
            return (cat(parts, 0), tensor(data.Labels.Select(l => (long)l).ToArray()));
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>
    /// Features from a cache file when it holds what it should — the same <paramref name="key"/> (e.g. the checkpoint's
    /// stamp and the image count), float32 features [N, D] whose SHA-256 is the one recorded when they were written, and
    /// int64 labels equal to <paramref name="labels"/> (the split's, when given) — otherwise extracted and cached again, so
    /// probes and kNN runs never recompute them and never score from a damaged cache. Each rebuild of an existing file is
    /// reported to <paramref name="log"/> with the reason, naming the file.
    /// </summary>
    public static (Tensor Features, Tensor Labels) Cached(string cacheFile, string key, Func<(Tensor, Tensor)> extract,
                                                          IReadOnlyList<int>? labels = null, IProgress<string>? log = null)
    {
        if (File.Exists(cacheFile))
        {
            string problem;
            try
            {
                using var ckpt = SafeTensors.Load(cacheFile);
                problem = Problem(ckpt, key, labels) ?? "";
                if (problem.Length == 0) return (ckpt.Take("features"), ckpt.Take("labels"));
            }
            catch (InvalidDataException e) { problem = $"unreadable ({e.Message.Split('\n')[0]})"; }
            log?.Report($"{cacheFile}: {problem}; extracting the features again");
        }
        var (f, l) = extract();
        SafeTensors.Save(cacheFile, new Dictionary<string, Tensor> { ["features"] = f, ["labels"] = l },
                         new Dictionary<string, string> { ["key"] = key, ["sha256"] = Sha256(f) });
        return (f, l);
    }

    // Why a readable cache file cannot be used (null: it can).
    private static string? Problem(SafeTensorsCheckpoint ckpt, string key, IReadOnlyList<int>? labels)
    {
        if (!ckpt.Metadata.TryGetValue("key", out var k) || k != key) return $"made for another checkpoint or image count ({k ?? "no key"}, now {key})";
        if (!ckpt.TryGetValue("features", out var f) || f.dtype != ScalarType.Float32 || f.dim() != 2) return "no float32 [N, D] 'features' tensor";
        if (!ckpt.TryGetValue("labels", out var l) || l.dtype != ScalarType.Int64 || l.dim() != 1 || l.size(0) != f.size(0))
            return $"no int64 'labels' tensor of {f.size(0)} labels";
        if (!ckpt.Metadata.TryGetValue("sha256", out var sha)) return "no checksum of its features (written by an older version)";
        if (sha != Sha256(f)) return "its features differ from the checksum recorded when they were written";
        if (labels is not null && (labels.Count != l.size(0) || !l.data<long>().ToArray().SequenceEqual(labels.Select(x => (long)x))))
            return "its labels differ from the data's";
        return null;
    }

    private static string Sha256(Tensor features)
    {
        var values = features.contiguous().cpu().data<float>().ToArray();
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())));
    }
}
