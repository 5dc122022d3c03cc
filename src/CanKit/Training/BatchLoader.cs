using System.Collections.Concurrent;
using CanKit.Data;

namespace CanKit.Training;

/// <summary>Where a data stream stands: epoch and the index of the next batch in that epoch's order.</summary>
public readonly record struct DataPosition(long Epoch, long Batch);

/// <summary>
/// Streams raw uint8 batches [B, C, H, W] of an <see cref="ImageSet"/> in a seeded order (a fresh permutation
/// per epoch, last partial batch dropped), assembled by a background thread into a bounded queue so the training
/// thread never waits on data. On CUDA the host batches are pinned for asynchronous copies. Restartable at any
/// <see cref="DataPosition"/>, which is what makes resumed runs reproduce uninterrupted ones.
/// Sharded: with <c>worldSize</c> W, shard <c>rank</c> builds the same permutation and takes its slice
/// [rank·B/W, (rank+1)·B/W) of each global batch of B images; positions count global batches.
/// </summary>
public sealed class BatchLoader : IDisposable
{
    private readonly ImageSet _data;
    private readonly int _batch, _local, _rank;
    private readonly ulong _seed;
    private readonly bool _pin;
    private readonly BlockingCollection<(Tensor Images, DataPosition Next)> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _worker;
    private Exception? _failure;

    public long BatchesPerEpoch { get; }

    public BatchLoader(ImageSet data, int batchSize, ulong seed, DataPosition start, int prefetch = 4, bool pinMemory = false, int rank = 0, int worldSize = 1)
    {
        if (batchSize > data.Count) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"{data.Name} has only {data.Count} images");
        if (worldSize < 1 || batchSize % worldSize != 0) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, $"the world size must divide the batch size {batchSize}");
        if (rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"must be in [0, {worldSize})");
        (_data, _batch, _seed, _pin, _local, _rank) = (data, batchSize, seed, pinMemory, batchSize / worldSize, rank);
        BatchesPerEpoch = data.Count / batchSize;
        _queue = new BlockingCollection<(Tensor, DataPosition)>(Math.Max(1, prefetch));
        _worker = new Thread(() => Produce(start)) { IsBackground = true, Name = "cankit-loader" };
        _worker.Start();
    }

    /// <summary>The permutation of epoch <paramref name="epoch"/> (same seed and epoch → same order).</summary>
    public static int[] Order(int count, ulong seed, long epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        // A fixed mix of seed and epoch (HashCode is randomised per process, so it cannot be used here).
        ulong mix = (seed + 0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)) * 0xBF58476D1CE4E5B9UL;
        new Random((int)(mix >> 33)).Shuffle(order);
        return order;
    }

    private void Produce(DataPosition pos)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int[] order = Order(_data.Count, _seed, pos.Epoch);
                for (long b = pos.Batch; b < BatchesPerEpoch && !_stop.IsCancellationRequested; b++)
                {
                    var (images, labels) = _data.RawBatch(order.AsSpan((int)(b * _batch) + _rank * _local, _local));
                    labels.Dispose();
                    if (_pin)
                    {
                        var pinned = images.pin_memory();
                        images.Dispose();
                        images = pinned;
                    }
                    var next = b + 1 < BatchesPerEpoch ? new DataPosition(pos.Epoch, b + 1) : new DataPosition(pos.Epoch + 1, 0);
                    _queue.Add((images, next), _stop.Token);
                }
                pos = new DataPosition(pos.Epoch + 1, 0);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            _failure = e;
            _queue.CompleteAdding();
        }
    }

    /// <summary>The next batch (the caller disposes it) and the position just after it.</summary>
    public (Tensor Images, DataPosition Next) Next()
    {
        try
        {
            return _queue.Take(_stop.Token);
        }
        catch (InvalidOperationException) when (_failure is not null)
        {
            throw new InvalidOperationException($"the data loader failed: {_failure.Message}", _failure);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _worker.Join();
        while (_queue.TryTake(out var item)) item.Images.Dispose();
        _queue.Dispose();
        _stop.Dispose();
    }
}
