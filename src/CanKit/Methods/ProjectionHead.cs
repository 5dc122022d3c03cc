using CanKit.Nn;

namespace CanKit.Methods;

/// <summary>
/// The light MLP on pooled features before the contrastive loss: Linear(D, hidden) → ReLU → Linear(hidden, out)
/// (CAN's official code: hidden = D, out = 128). Names <c>0</c> and <c>2</c> inside its parent's prefix.
/// </summary>
public static class ProjectionHead
{
    public static Sequential Create(int inDim, int hidden, int outDim, Generator? generator = null) =>
        new(new Linear(inDim, hidden, generator: generator), new ReLU(), new Linear(hidden, outDim, generator: generator));

    /// <summary>Mean over the patch tokens of encoder output [N, (1+)L, D] (the [CLS] token excluded) → [N, D].</summary>
    public static Tensor MeanPool(Tensor encoded, bool hasCls)
    {
        if (!hasCls) return encoded.Mean(1);
        using var patches = encoded.Narrow(1, 1, encoded.Size(1) - 1);
        return patches.Mean(1);
    }
}
