using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Methods;

/// <summary>
/// The light MLP on pooled features before the contrastive loss: Linear(D, hidden) → ReLU → Linear(hidden, out)
/// (CAN's official code: hidden = D, out = 128). Names <c>0</c> and <c>2</c> inside its parent's prefix.
/// </summary>
public static class ProjectionHead
{
    public static Sequential Create(int inDim, int hidden, int outDim, Generator? generator = null) =>
        nn.Sequential(TransformerInit.Linear(inDim, hidden, generator), nn.ReLU(), TransformerInit.Linear(hidden, outDim, generator));

    /// <summary>Mean over the patch tokens of encoder output [N, (1+)L, D] (the [CLS] token excluded) → [N, D].</summary>
    public static Tensor MeanPool(Tensor encoded, bool hasCls)
    {
        if (encoded.dim() != 3) throw new ArgumentException($"MeanPool expects [N, (1+)L, D], got {Shapes.Of(encoded)}", nameof(encoded));
        if (!hasCls) return encoded.mean([1]);
        using var patches = encoded.narrow(1, 1, encoded.size(1) - 1);   // [N, L, D]
        return patches.mean([1]);
    }
}
