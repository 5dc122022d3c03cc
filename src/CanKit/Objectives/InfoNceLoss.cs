using CanKit.Distributed;
using CanKit.Nn;

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
/// With a process group of W ranks (global negatives, as SimCLR trains on TPU pods): this rank's 2n anchors score
/// against the 2Wn embeddings of all ranks, gathered with <see cref="ProcessGroup.AllGatherWithGrad"/>; averaging
/// the ranks' losses (the data-parallel gradient mean) gives exactly the loss of one process holding the whole batch.
/// </summary>
public static class InfoNceLoss
{
    public static ContrastiveResult Compute(Tensor z1, Tensor z2, double temperature, ProcessGroup? group = null)
    {
        if (temperature <= 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "τ must be > 0");
        if (group is { WorldSize: > 1 }) return GlobalCompute(z1, z2, temperature, group);
        long n = z1.Size(0);
        using var cat = Tensor.Cat([z1, z2], 0);                                    // [2n, d]
        using var z = Functional.Normalize(cat, 2, 1);                             // [2n, d]
        using var zt = z.T();
        using var sim = z.MatMul(zt);                                              // [2n, 2n]
        using var scaled = sim / temperature;
        using var eye = EyeMask(2 * n, z.Device);
        using var logits = scaled.MaskedFill(eye, double.NegativeInfinity);       // self-similarity removed
        using var targets = PositiveIndex(n, z.Device);                            // [2n]
        var loss = Functional.CrossEntropy(logits, targets);
        return new ContrastiveResult(loss, Top1(logits, targets));
    }

    /// <summary>
    /// CMAE's asymmetric form: queries q [n, d] (online predictor) against keys k [n, d] (target projector,
    /// no gradient); the positive of q_i is k_i, the other n − 1 keys are negatives. With a process group the keys of
    /// all ranks are negatives ([W·n] keys; the positive of local q_i is key Rank·n + i).
    /// </summary>
    public static ContrastiveResult Asymmetric(Tensor q, Tensor k, double temperature, ProcessGroup? group = null)
    {
        if (temperature <= 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "τ must be > 0");
        bool global = group is { WorldSize: > 1 };
        using var qn = Functional.Normalize(q, 2, 1);
        using var kd = global ? group!.AllGather(k.Detach()) : k.Detach();         // [n or W·n, d]
        using var kn = Functional.Normalize(kd, 2, 1);
        using var knt = kn.T();
        using var sim = qn.MatMul(knt);                                            // [n, n]
        using var logits = sim / temperature;
        long offset = global ? group!.Rank * q.Size(0) : 0;
        using var targets = Tensor.Arange(offset, offset + q.Size(0), 1, DType.Int64, q.Device); // [n]
        var loss = Functional.CrossEntropy(logits, targets);
        return new ContrastiveResult(loss, Top1(logits, targets));
    }

    // Global negatives: keys K = [Z1; Z2] [2Wn, d] gathered from all ranks (view 1 of every rank first), queries the
    // local [z1; z2] [2n, d]. Local row i of view 1 is key Rank·n + i; its positive is key Wn + Rank·n + i.
    private static ContrastiveResult GlobalCompute(Tensor z1, Tensor z2, double temperature, ProcessGroup group)
    {
        using var scope = Torch.NewDisposeScope();
        long n = z1.Size(0), w = group.WorldSize, r = group.Rank;
        var zn1 = Functional.Normalize(z1, 2, 1);                                  // [n, d]
        var zn2 = Functional.Normalize(z2, 2, 1);
        var q = Tensor.Cat([zn1, zn2], 0);                                         // [2n, d]
        var keys = Tensor.Cat([group.AllGatherWithGrad(zn1), group.AllGatherWithGrad(zn2)], 0);   // [2Wn, d]
        var scaled = q.MatMul(keys.T()) / temperature;                             // [2n, 2Wn]
        var local = Tensor.Arange(0, n, 1, DType.Int64, z1.Device);                // [n]
        var self = Tensor.Cat([local + r * n, local + (w * n + r * n)], 0);        // [2n]
        var positive = Tensor.Cat([local + (w * n + r * n), local + r * n], 0);    // [2n]
        var cols = Tensor.Arange(0, 2 * w * n, 1, DType.Int64, z1.Device).Unsqueeze(0);   // [1, 2Wn]
        var logits = scaled.MaskedFill(self.Unsqueeze(1).Eq(cols), double.NegativeInfinity);
        var loss = Functional.CrossEntropy(logits, positive);
        var result = new ContrastiveResult(loss, Top1(logits, positive));
        scope.MoveToOuter(loss);
        scope.MoveToOuter(result.Top1);
        return result;
    }

    private static Tensor Top1(Tensor logits, Tensor targets)
    {
        using var noGrad = Torch.NoGrad();
        using var pred = logits.ArgMax(1);
        using var hit = pred.Eq(targets);
        using var f = hit.To(DType.Float32);
        return f.Mean();
    }

    /// <summary>[2n] with i ↦ i + n for the first view and i + n ↦ i for the second.</summary>
    private static Tensor PositiveIndex(long n, Device device)
    {
        using var a = Tensor.Arange(n, 2 * n, 1, DType.Int64, device);
        using var b = Tensor.Arange(0, n, 1, DType.Int64, device);
        return Tensor.Cat([a, b], 0);
    }

    private static Tensor EyeMask(long m, Device device)
    {
        using var i = Tensor.Arange(0, m, 1, DType.Int64, device);
        using var r = i.Unsqueeze(1);
        using var c = i.Unsqueeze(0);
        return r.Eq(c);                                                            // [m, m] bool
    }
}
