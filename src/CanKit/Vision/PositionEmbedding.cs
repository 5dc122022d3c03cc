namespace CanKit.Vision;

/// <summary>
/// Fixed 2-D sine-cosine position embeddings (MAE's <c>get_2d_sincos_pos_embed</c>): half the channels encode the
/// column, half the row, each as [sin(pos·ωₖ), cos(pos·ωₖ)] with ωₖ = 10000^(−k/(D/4)).
/// </summary>
public static class PositionEmbedding
{
    /// <summary>[grid², D] (or [1 + grid², D] with a leading zero row for a [CLS] token).</summary>
    public static Tensor SinCos2D(int width, int gridSize, bool clsToken)
    {
        if (width % 4 != 0) throw new ArgumentOutOfRangeException(nameof(width), width, "2-D sin-cos embeddings need a width divisible by 4");
        int quarter = width / 4, l = gridSize * gridSize, rows = l + (clsToken ? 1 : 0);
        var e = new float[rows * width];
        int off = clsToken ? 1 : 0;
        for (int i = 0; i < gridSize; i++)        // row (h)
            for (int j = 0; j < gridSize; j++)    // column (w)
            {
                int t = (off + i * gridSize + j) * width;
                for (int k = 0; k < quarter; k++)
                {
                    double omega = 1.0 / Math.Pow(10000, (double)k / quarter);
                    // MAE: first half from grid[0] (the column index w), second half from grid[1] (the row h).
                    e[t + k] = (float)Math.Sin(j * omega);
                    e[t + quarter + k] = (float)Math.Cos(j * omega);
                    e[t + 2 * quarter + k] = (float)Math.Sin(i * omega);
                    e[t + 3 * quarter + k] = (float)Math.Cos(i * omega);
                }
            }
        return Tensor.From(e, rows, width);
    }
}
