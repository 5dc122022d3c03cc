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
/// </summary>
public static class InfoNceLoss
{
    public static ContrastiveResult Compute(Tensor z1, Tensor z2, double temperature)
    {
        if (temperature <= 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "τ must be > 0");
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
    /// no gradient); the positive of q_i is k_i, the other n − 1 keys are negatives.
    /// </summary>
    public static ContrastiveResult Asymmetric(Tensor q, Tensor k, double temperature)
    {
        if (temperature <= 0 || double.IsNaN(temperature)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "τ must be > 0");
        using var qn = Functional.Normalize(q, 2, 1);
        using var kd = k.Detach();
        using var kn = Functional.Normalize(kd, 2, 1);
        using var knt = kn.T();
        using var sim = qn.MatMul(knt);                                            // [n, n]
        using var logits = sim / temperature;
        using var targets = Tensor.Arange(0, q.Size(0), 1, DType.Int64, q.Device); // [n]
        var loss = Functional.CrossEntropy(logits, targets);
        return new ContrastiveResult(loss, Top1(logits, targets));
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
