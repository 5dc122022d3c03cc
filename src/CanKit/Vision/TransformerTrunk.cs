namespace CanKit.Vision;

/// <summary>
/// The transformer trunk the encoder and the MAE decoder share: fixed 2-D sin-cos positions, a stack of pre-norm
/// <see cref="Block"/>s and a final LayerNorm, built in that order (so the weights each draws from the generator are the
/// same as before it was shared) and run block by block. The modules stay fields of their owner, so the state-dict names
/// are the owner's (<c>pos_embed</c>, <c>blocks.{i}</c>, <c>norm</c>).
/// </summary>
internal sealed class TransformerTrunk
{
    /// <summary>Fixed positions [1, (1+)L, width] for the patch grid, a [CLS] slot first when the owner has one.</summary>
    public Tensor Positions { get; }

    public Block[] Blocks { get; }

    public LayerNorm Norm { get; }

    public TransformerTrunk(int width, int depth, int heads, double mlpRatio, double layerNormEps, int gridSize, bool clsToken,
                            Generator? generator, Precision precision)
    {
        using (var pe = PositionEmbedding.SinCos2D(width, gridSize, clsToken))
            Positions = pe.unsqueeze(0);                                                       // [1, (1+)L, width]
        Blocks = Enumerable.Range(0, depth)
            .Select(_ => new Block(width, heads, mlpRatio, layerNormEps, generator, precision)).ToArray();
        Norm = nn.LayerNorm(width, layerNormEps);
    }

    /// <summary>Every block on <paramref name="x"/> [N, L, D] (which it disposes, as each intermediate), without the norm.</summary>
    public static Tensor RunBlocks(IReadOnlyList<Block> blocks, Tensor x)
    {
        foreach (var b in blocks)
        {
            var next = b.call(x);
            x.Dispose();
            x = next;
        }
        return x;
    }
}
