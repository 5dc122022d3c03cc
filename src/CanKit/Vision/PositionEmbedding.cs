namespace CanKit.Vision;

/// <summary>
/// Fixed 2-D sine-cosine position embeddings (MAE's <c>get_2d_sincos_pos_embed</c>): half the channels encode the
/// column, half the row, each as [sin(pos·ωₖ), cos(pos·ωₖ)] with ωₖ = 10000^(−k/(D/4)).
/// </summary>
public static class PositionEmbedding
{
    /// <summary>float32 [grid², D] (or [1 + grid², D] with a leading zero row for a [CLS] token), on the CPU.</summary>
    public static Tensor SinCos2D(int width, int gridSize, bool clsToken)
    {
        if (width <= 0 || width % 4 != 0) throw new ArgumentOutOfRangeException(nameof(width), width, "2-D sin-cos embeddings need a width divisible by 4");
        if (gridSize <= 0) throw new ArgumentOutOfRangeException(nameof(gridSize), gridSize, "must be > 0");
        int quarter = width / 4, l = gridSize * gridSize, off = clsToken ? 1 : 0, rows = l + off;
        var e = new float[rows * width];
        for (int i = 0; i < gridSize; i++)        // row (h)
            for (int j = 0; j < gridSize; j++)    // column (w)
            {
                int t = (off + i * gridSize + j) * width;
                for (int k = 0; k < quarter; k++)
                {
                    double omega = 1.0 / Math.Pow(10000, (double)k / quarter);
                    // MAE: the first half comes from grid[0] (the column index w), the second from grid[1] (the row h).
                    e[t + k] = (float)Math.Sin(j * omega);
                    e[t + quarter + k] = (float)Math.Cos(j * omega);
                    e[t + 2 * quarter + k] = (float)Math.Sin(i * omega);
                    e[t + 3 * quarter + k] = (float)Math.Cos(i * omega);
                }
            }
        return torch.tensor(e, [rows, width]);
    }
}
