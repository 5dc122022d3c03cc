namespace CanKit.Distributed;

/// <summary>
/// Data-parallel training by hand, as PyTorch's DDP does it: every rank holds the whole model, rank 0's state is
/// broadcast once at the start, each rank computes gradients on its shard of the global batch, and the gradients are
/// averaged over ranks (bucketed all-reduce) before the optimiser step — so every rank applies the same update and the
/// parameters stay bit-identical.
/// </summary>
public static class DataParallel
{
    /// <summary>PyTorch DDP's default bucket: fewer, larger all-reduces amortise the per-call latency.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    /// <summary>Copies rank <paramref name="root"/>'s parameters and buffers (the whole state dict) to every rank.</summary>
    public static void BroadcastState(ProcessGroup group, nn.Module module, int root = 0)
    {
        if (group.WorldSize == 1) return;
        using var noGrad = torch.no_grad();
        foreach (var (_, t) in module.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
            group.Broadcast(t, root);
    }

    /// <summary>
    /// Replaces each gradient by its mean over ranks (Σ_r g_r / W), in flat buckets of about
    /// <paramref name="bucketBytes"/>. A gradient missing on some ranks counts as zeros there; one missing on every rank
    /// stays missing, so the optimiser skips it as one process would.
    /// </summary>
    public static void AverageGradients(ProcessGroup group, IReadOnlyList<Tensor> parameters, long bucketBytes = DefaultBucketBytes)
    {
        if (bucketBytes <= 0) throw new ArgumentOutOfRangeException(nameof(bucketBytes), bucketBytes, "must be > 0");
        if (group.WorldSize == 1) return;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // Which parameters have a gradient on some rank: [P] counts.
        var present = torch.tensor(parameters.Select(p => p.grad is null ? 0f : 1f).ToArray());
        group.AllReduceSum(present);
        var any = present.data<float>().ToArray();
        var grads = new List<Tensor>();
        for (int i = 0; i < parameters.Count; i++)
        {
            if (any[i] == 0) continue;
            var p = parameters[i];
            if (p.grad is null) p.grad = torch.zeros_like(p).DetachFromDisposeScope();
            if (p.grad!.dtype != ScalarType.Float32) throw new NotSupportedException($"gradient averaging takes float32 gradients, got {p.grad.dtype}");
            grads.Add(p.grad);
        }
        float scale = 1f / group.WorldSize;
        long limit = Math.Max(1, bucketBytes / sizeof(float));
        for (int start = 0; start < grads.Count;)
        {
            int end = start;
            long elements = 0;
            do elements += grads[end++].numel(); while (end < grads.Count && elements + grads[end].numel() <= limit);
            var bucket = grads.GetRange(start, end - start);
            var flat = torch.cat(bucket.Select(g => g.reshape(-1)).ToList(), 0);          // [Σ numel]
            group.AllReduceSum(flat);
            flat.mul_(scale);
            long offset = 0;
            foreach (var g in bucket)
            {
                g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
                offset += g.numel();
            }
            start = end;
        }
    }

    /// <summary>
    /// True when every rank holds bit-identical <paramref name="tensors"/> (a check for tests and debugging: all-gathers
    /// the whole flattened state, as float64 so every float32 value is compared exactly).
    /// </summary>
    public static bool Identical(ProcessGroup group, IEnumerable<Tensor> tensors)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var flat = torch.cat(tensors.Select(t => t.detach().reshape(-1).to(ScalarType.Float64)).ToList(), 0);   // [S]
        var all = group.AllGather(flat.unsqueeze(0));                                                            // [W, S]
        return all.eq(all.narrow(0, 0, 1)).all().item<bool>();
    }
}
