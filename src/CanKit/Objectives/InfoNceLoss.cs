using CanKit.Distributed;
using CanKit.Tensors;

namespace CanKit.Objectives;

/// <summary>A contrastive loss with the share of anchors whose positive scored highest.</summary>
public sealed record ContrastiveResult(Tensor Loss, Tensor Top1) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        Top1.Dispose();
    }
}

/// <summary>
/// SimCLR's NT-Xent / InfoNCE over 2n embeddings: z = normalise([z₁; z₂]) [2n, d], logits = z zᵀ / τ with the
/// diagonal removed; the positive of row i is its other view (i ± n); the other 2n − 2 rows are negatives;
/// cross-entropy averaged over all 2n anchors (both views are anchors). Identical embeddings give log(2n − 1).
/// Negatives are the embeddings of this batch; with a <see cref="ProcessGroup"/> of W ranks, of the global batch
/// (SimCLR's global negatives): this rank's 2n anchors score against the 2Wn embeddings of every rank, gathered with
/// <see cref="ProcessGroup.AllGatherWithGrad"/>, and the mean of the ranks' losses is the loss of one process holding
/// all W·n images.
/// </summary>
public static class InfoNceLoss
{
    /// <summary>z₁, z₂ [n, d] (row i of each: two views of one image) → mean loss over the 2n anchors, top-1.</summary>
    public static ContrastiveResult Compute(Tensor z1, Tensor z2, double temperature, ProcessGroup? group = null)
    {
        if (temperature <= 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "τ must be > 0");
        CheckPair(z1, z2, nameof(z2));
        if (group is { WorldSize: > 1 }) return GlobalCompute(z1, z2, temperature, group);
        long n = z1.size(0);
        using var cat = torch.cat([z1, z2], 0);                                    // [2n, d]
        using var z = nn.functional.normalize(cat, 2, 1);                          // [2n, d]
        using var zt = z.t();
        using var sim = z.mm(zt);                                                  // [2n, 2n]
        using var scaled = sim / temperature;
        using var eye = torch.eye(2 * n, dtype: ScalarType.Bool, device: z.device);
        using var logits = scaled.masked_fill(eye, double.NegativeInfinity);     // self-similarity removed
        using var targets = PositiveIndex(n, z.device);                           // [2n]
        var loss = nn.functional.cross_entropy(logits, targets);
        return new ContrastiveResult(loss, Top1(logits, targets));
    }

    /// <summary>
    /// CMAE's asymmetric form: queries q [n, d] (online predictor) against keys k [n, d] (target projector,
    /// no gradient); the positive of q_i is k_i, the other n − 1 keys are negatives. With a process group the keys of
    /// every rank are negatives ([W·n] keys, gathered without gradient; the positive of local q_i is key Rank·n + i).
    /// </summary>
    public static ContrastiveResult Asymmetric(Tensor q, Tensor k, double temperature, ProcessGroup? group = null)
    {
        if (temperature <= 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "τ must be > 0");
        CheckPair(q, k, nameof(k));
        bool global = group is { WorldSize: > 1 };
        using var qn = nn.functional.normalize(q, 2, 1);
        using var kd = global ? group!.AllGather(k) : k.detach();                  // [n or W·n, d], no gradient to the target
        using var kn = nn.functional.normalize(kd, 2, 1);
        using var knt = kn.t();
        using var sim = qn.mm(knt);                                                // [n, W·n]
        using var logits = sim / temperature;
        long offset = global ? group!.Rank * q.size(0) : 0;
        using var targets = torch.arange(offset, offset + q.size(0), 1, ScalarType.Int64, q.device);   // [n]
        var loss = nn.functional.cross_entropy(logits, targets);
        return new ContrastiveResult(loss, Top1(logits, targets));
    }

    // Global negatives: keys K = [Z1; Z2] [2Wn, d] gathered from every rank (view 1 of all ranks first), queries the
    // local [z1; z2] [2n, d]. Local row i of view 1 is key Rank·n + i, its positive key Wn + Rank·n + i.
    private static ContrastiveResult GlobalCompute(Tensor z1, Tensor z2, double temperature, ProcessGroup group)
    {
        using var scope = torch.NewDisposeScope();
        long n = z1.size(0), w = group.WorldSize, r = group.Rank;
        var zn1 = nn.functional.normalize(z1, 2, 1);                                   // [n, d]
        var zn2 = nn.functional.normalize(z2, 2, 1);                                   // [n, d]
        var q = torch.cat([zn1, zn2], 0);                                              // [2n, d]
        var keys = torch.cat([group.AllGatherWithGrad(zn1), group.AllGatherWithGrad(zn2)], 0);   // [2Wn, d]
        var scaled = q.mm(keys.t()) / temperature;                                     // [2n, 2Wn]
        var local = torch.arange(0, n, 1, ScalarType.Int64, z1.device);                // [n]
        var self = torch.cat([local + r * n, local + (w * n + r * n)], 0);             // [2n]
        var positive = torch.cat([local + (w * n + r * n), local + r * n], 0);         // [2n]
        var cols = torch.arange(0, 2 * w * n, 1, ScalarType.Int64, z1.device).unsqueeze(0);   // [1, 2Wn]
        var logits = scaled.masked_fill(self.unsqueeze(1).eq(cols), double.NegativeInfinity);
        var loss = nn.functional.cross_entropy(logits, positive);
        var top1 = Top1(logits, positive);
        loss.MoveToOuterDisposeScope();
        top1.MoveToOuterDisposeScope();
        return new ContrastiveResult(loss, top1);
    }

    /// <summary>Share (float32 scalar) of rows whose highest logit is the target.</summary>
    private static Tensor Top1(Tensor logits, Tensor targets)
    {
        using var noGrad = torch.no_grad();
        using var pred = logits.argmax(1);
        using var hit = pred.eq(targets);
        using var f = hit.to(ScalarType.Float32);
        return f.mean();
    }

    /// <summary>[2n] with i ↦ i + n for the first view and i + n ↦ i for the second.</summary>
    private static Tensor PositiveIndex(long n, Device device)
    {
        using var a = torch.arange(n, 2 * n, 1, ScalarType.Int64, device);
        using var b = torch.arange(0, n, 1, ScalarType.Int64, device);
        return torch.cat([a, b], 0);
    }

    private static void CheckPair(Tensor a, Tensor b, string name)
    {
        if (a.dim() != 2 || !a.shape.SequenceEqual(b.shape))
            throw new ArgumentException($"contrastive embeddings must both be [n, d], " +
                                        $"got {Shapes.Of(a)} and {Shapes.Of(b)}", name);
    }
}
