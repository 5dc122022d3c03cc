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
    /// Features from a cache file when it exists (keyed by <paramref name="key"/>, e.g. the checkpoint's step and
    /// the split), otherwise extracted and cached, so probes and kNN runs never recompute them.
    /// </summary>
    public static (Tensor Features, Tensor Labels) Cached(string cacheFile, string key, Func<(Tensor, Tensor)> extract)
    {
        if (File.Exists(cacheFile))
        {
            // A cache that cannot be read or does not hold what it should is rebuilt, never trusted.
            try
            {
                using var ckpt = SafeTensors.Load(cacheFile);
                if (ckpt.Metadata.TryGetValue("key", out var k) && k == key
                    && ckpt.TryGetValue("features", out var f0) && ckpt.TryGetValue("labels", out var l0)
                    && f0.dtype == ScalarType.Float32 && f0.dim() == 2 && l0.dtype == ScalarType.Int64 && l0.dim() == 1 && f0.size(0) == l0.size(0))
                    return (ckpt.Take("features"), ckpt.Take("labels"));
            }
            catch (InvalidDataException) { }
        }
        var (f, l) = extract();
        SafeTensors.Save(cacheFile, new Dictionary<string, Tensor> { ["features"] = f, ["labels"] = l }, new Dictionary<string, string> { ["key"] = key });
        return (f, l);
    }
}
