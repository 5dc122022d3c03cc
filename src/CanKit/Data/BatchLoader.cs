namespace CanKit.Data;

/// <summary>Where a data stream stands: epoch and the index of the next batch in that epoch's order.</summary>
public readonly record struct DataPosition(long Epoch, long Batch);

/// <summary>
/// Streams raw uint8 batches [B, C, H, W] of an <see cref="ImageSet"/> in a seeded order (a fresh permutation
/// per epoch, last partial batch dropped), assembled ahead of the training thread by <c>workers</c> background
/// threads into at most <c>prefetch</c> waiting batches, handed over in order whatever thread made them. The
/// set's pixels may be in memory or read from its file on demand (<see cref="ImageSet.InMemory"/>); the batches
/// are the same bytes either way. On CUDA the host batches are pinned for asynchronous copies. Restartable at
/// any <see cref="DataPosition"/>, which is what makes resumed runs reproduce uninterrupted ones.
/// Sharded: with <c>worldSize</c> W, shard <c>rank</c> builds the same permutation and takes its slice
/// [rank·B/W, (rank+1)·B/W) of each global batch of B images; positions count global batches.
/// </summary>
public sealed class BatchLoader : IDisposable
{
    private readonly ImageSet _data;
    private readonly int _batch, _local, _rank, _prefetch;
    private readonly ulong _seed;
    private readonly bool _pin;
    private readonly DataPosition _start;
    // Batch s (counted from the start position) is made by worker s mod workers and waits in slot s mod prefetch;
    // a worker may run at most prefetch batches ahead of the consumer. All fields below are guarded by _gate.
    private readonly (Tensor Images, DataPosition Next)?[] _slots;
    private readonly object _gate = new();
    private long _taken;
    private bool _stopped;
    private Exception? _failure;
    private readonly Thread[] _workers;

    public long BatchesPerEpoch { get; }

    /// <summary>
    /// A loader from <paramref name="start"/>. <paramref name="workers"/>: threads assembling batches (≥ 1); one keeps
    /// up with in-memory sets, while reading a file-backed set whose pages are not cached overlaps more reads with
    /// more threads (docs/data.md has the measurement).
    /// </summary>
    public BatchLoader(ImageSet data, int batchSize, ulong seed, DataPosition start, int prefetch = 4, bool pinMemory = false, int rank = 0, int worldSize = 1,
                       int workers = 1)
    {
        if (batchSize > data.Count) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, $"{data.Name} has only {data.Count} images");
        if (worldSize < 1 || batchSize % worldSize != 0)
            throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, $"the world size must divide the batch size {batchSize}");
        if (rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"must be in [0, {worldSize})");
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one loader thread");
        (_data, _batch, _seed, _pin, _local, _rank, _start) = (data, batchSize, seed, pinMemory, batchSize / worldSize, rank, start);
        BatchesPerEpoch = data.Count / batchSize;
        _prefetch = Math.Max(1, prefetch);
        _slots = new (Tensor, DataPosition)?[_prefetch];
        _workers = new Thread[workers];
        for (int w = 0; w < workers; w++)
        {
            int first = w;
            _workers[w] = new Thread(() => Produce(first, workers)) { IsBackground = true, Name = $"cankit-loader-{w}" };
        }
        foreach (var t in _workers) t.Start();
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

    // The position of the s-th batch from the start, counted in global batches.
    private DataPosition At(long s)
    {
        long abs = _start.Epoch * BatchesPerEpoch + _start.Batch + s;
        return new DataPosition(abs / BatchesPerEpoch, abs % BatchesPerEpoch);
    }

    private void Produce(int first, int stride)
    {
        int[]? order = null;
        long orderEpoch = -1;
        try
        {
            for (long s = first; ; s += stride)
            {
                lock (_gate)
                {
                    while (!_stopped && s >= _taken + _prefetch) Monitor.Wait(_gate);
                    if (_stopped) return;
                }
                var pos = At(s);
                if (pos.Epoch != orderEpoch) (order, orderEpoch) = (Order(_data.Count, _seed, pos.Epoch), pos.Epoch);
                var (images, labels) = _data.RawBatch(order.AsSpan((int)(pos.Batch * _batch) + _rank * _local, _local));
                labels.Dispose();
                if (_pin)
                {
                    var pinned = images.pin_memory();
                    images.Dispose();
                    images = pinned;
                }
                lock (_gate)
                {
                    if (_stopped) { images.Dispose(); return; }
                    _slots[s % _prefetch] = (images, At(s + 1));
                    Monitor.PulseAll(_gate);
                }
            }
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                _failure ??= e;
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>The next batch (the caller disposes it) and the position just after it.</summary>
    public (Tensor Images, DataPosition Next) Next()
    {
        lock (_gate)
        {
            int slot = (int)(_taken % _prefetch);
            while (_slots[slot] is null)
            {
                if (_failure is not null) throw new InvalidOperationException($"the data loader failed: {_failure.Message}", _failure);
                ObjectDisposedException.ThrowIf(_stopped, this);
                Monitor.Wait(_gate);
            }
            var item = _slots[slot]!.Value;
            _slots[slot] = null;
            _taken++;
            Monitor.PulseAll(_gate);
            return item;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var t in _workers) t.Join();
        for (int i = 0; i < _slots.Length; i++)
        {
            _slots[i]?.Images.Dispose();
            _slots[i] = null;
        }
    }
}
