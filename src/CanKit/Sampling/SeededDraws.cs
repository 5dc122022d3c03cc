namespace CanKit.Sampling;

/// <summary>
/// Random draws that do not depend on the world size. Inside <see cref="Enter"/> this thread holds shard
/// <see cref="Rank"/> of <see cref="WorldSize"/> of a global batch, <see cref="LocalBatch"/> samples per rank. A draw
/// whose sample dimension has k·n rows (k stacked blocks of n samples, e.g. CAN's two views) is drawn for the whole
/// global batch, k·W·n rows, from the generator every rank holds in the same state, and this rank keeps its rows
/// [r·n, (r+1)·n) of each block. The samples of rank r therefore get exactly the masks, noise and augmentations that
/// one process holding the global batch gives them, and the generator state stays the same on every rank (so one
/// saved state resumes at any world size). Outside a shard a draw is the plain <c>torch.rand</c>/<c>randn</c>.
/// Costs W times the random numbers of a local draw, a few milliseconds per step against the model's seconds.
/// </summary>
public sealed class SeededDraws : IDisposable
{
    [ThreadStatic] private static SeededDraws? current;
    private readonly SeededDraws? _outer;

    public int Rank { get; }
    public int WorldSize { get; }
    public long LocalBatch { get; }

    private SeededDraws(int rank, int worldSize, long localBatch)
    {
        (Rank, WorldSize, LocalBatch, _outer) = (rank, worldSize, localBatch, current);
        current = this;
    }

    /// <summary>Draws on this thread are shard <paramref name="rank"/> of <paramref name="worldSize"/> until disposed.</summary>
    public static SeededDraws Enter(int rank, int worldSize, long localBatch)
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "must be ≥ 1");
        if (rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"must be in [0, {worldSize})");
        if (localBatch < 1) throw new ArgumentOutOfRangeException(nameof(localBatch), localBatch, "must be ≥ 1");
        return new SeededDraws(rank, worldSize, localBatch);
    }

    public void Dispose() => current = _outer;

    /// <summary>U[0, 1) of <paramref name="shape"/>, whose dimension <paramref name="sampleDim"/> counts samples.</summary>
    public static Tensor Rand(long[] shape, int sampleDim, ScalarType dtype, Device device, Generator? g) =>
        Draw(shape, sampleDim, s => torch.rand(s, dtype, device, generator: g));

    /// <summary>N(0, 1) of <paramref name="shape"/>, whose dimension <paramref name="sampleDim"/> counts samples.</summary>
    public static Tensor Randn(long[] shape, int sampleDim, ScalarType dtype, Device device, Generator? g) =>
        Draw(shape, sampleDim, s => torch.randn(s, dtype, device, generator: g));

    private static Tensor Draw(long[] shape, int sampleDim, Func<long[], Tensor> draw)
    {
        var shard = current;
        if (shard is null || shard.WorldSize == 1) return draw(shape);
        long rows = shape[sampleDim], n = shard.LocalBatch;
        if (rows % n != 0)
            throw new InvalidOperationException($"a random draw of {rows} samples on a shard of {n} samples per rank: not whole blocks of the batch");
        long blocks = rows / n, w = shard.WorldSize;
        var global = (long[])shape.Clone();
        global[sampleDim] = blocks * w * n;
        using var all = draw(global);                                                  // [..., k·W·n, ...]
        var split = shape.Take(sampleDim).Concat([blocks, w, n]).Concat(shape.Skip(sampleDim + 1)).ToArray();
        using var view = all.view(split);                                             // [..., k, W, n, ...]
        using var mine = view.select(sampleDim + 1, shard.Rank);                       // [..., k, n, ...]
        return mine.reshape(shape);                                                    // [..., k·n, ...]
    }
}
