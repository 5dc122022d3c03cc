namespace CanKit.Tensors;

/// <summary>Tensor operations on token sequences [N, L, D] that the model (Vision) and the objectives both use.</summary>
public static class Tokens
{
    /// <summary>Selects tokens: x [N, L, D], ids [N, K] → [N, K, D] (row n takes x[n, ids[n, k]]).</summary>
    public static Tensor Gather(Tensor x, Tensor ids)
    {
        long d = x.size(-1);
        using var idx = ids.unsqueeze(-1);                        // [N, K, 1]
        using var exp = idx.expand(-1, -1, d);                    // [N, K, D]
        return x.gather(1, exp);
    }
}
