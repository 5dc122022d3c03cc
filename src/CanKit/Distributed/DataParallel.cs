using CanKit.Nn;

namespace CanKit.Distributed;

/// <summary>
/// Data-parallel training by hand, as PyTorch's DDP does it: every rank holds the whole model, rank 0's state is
/// broadcast once at the start, each rank computes gradients on its own shard of the global batch, and the
/// gradients are averaged over ranks (bucketed all-reduce) before the optimiser step — so every rank applies the
/// same update and the parameters stay identical.
/// </summary>
public static class DataParallel
{
    /// <summary>PyTorch DDP's default bucket: fewer, larger all-reduces amortise the per-call latency.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    /// <summary>Copies rank 0's parameters and buffers (all of the state dict, trainable or not) to every rank.</summary>
    public static void BroadcastState(ProcessGroup group, Module module, int root = 0)
    {
        if (group.WorldSize == 1) return;
        var state = module.StateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value).ToList();
        using var noGrad = Torch.NoGrad();
        group.Broadcast(state, root);
    }

    /// <summary>
    /// Replaces each gradient by its mean over ranks (∑_r g_r / W), in buckets of about <paramref name="bucketBytes"/>.
    /// Gradients missing on some ranks count as zeros; one missing on every rank stays missing.
    /// </summary>
    public static void AverageGradients(ProcessGroup group, IEnumerable<Tensor> parameters, long bucketBytes = DefaultBucketBytes)
    {
        if (bucketBytes <= 0) throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "must be > 0");
        if (group.WorldSize == 1) return;
        group.AverageGradients(parameters.ToList(), bucketBytes);
    }

    /// <summary>
    /// True when every rank holds bit-identical <paramref name="tensors"/> (a check for tests and debugging:
    /// all-gathers the whole flattened state).
    /// </summary>
    public static bool Identical(ProcessGroup group, IEnumerable<Tensor> tensors)
    {
        using var scope = Torch.NewDisposeScope();
        using var noGrad = Torch.NoGrad();
        var flat = Tensor.Cat(tensors.Select(t => t.Detach().Reshape(-1).To(DType.Float32)).ToList(), 0);   // [P]
        var all = group.AllGather(flat.Unsqueeze(0));                                                          // [W, P]
        var first = all.Narrow(0, 0, 1);
        return all.Eq(first).All().Item<bool>();
    }
}
