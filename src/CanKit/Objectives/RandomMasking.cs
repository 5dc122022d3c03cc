using CanKit.Sampling;
using CanKit.Tensors;

namespace CanKit.Objectives;

/// <summary>
/// The result of masking a token sequence. Convention (as MAE): <c>Mask</c> [N, L] is 1 where a token is
/// <b>removed</b> and 0 where it is kept; <c>IdsRestore</c> [N, L] puts the kept-then-removed order back into
/// the original order; <c>IdsKeep</c> [N, Lv] lists the kept positions (ascending noise order).
/// </summary>
public sealed record Masked(Tensor Visible, Tensor Mask, Tensor IdsRestore, Tensor IdsKeep) : IDisposable
{
    public void Dispose()
    {
        Visible.Dispose();
        Mask.Dispose();
        IdsRestore.Dispose();
        IdsKeep.Dispose();
    }
}

/// <summary>MAE's per-sample random masking by "argsort of uniform noise".</summary>
public static class RandomMasking
{
    /// <summary>Tokens kept per sample: ⌊L·(1 − ratio)⌋.</summary>
    public static int KeepCount(int length, double ratio) => (int)(length * (1 - ratio));

    /// <summary>
    /// Keeps ⌊L·(1−ratio)⌋ random tokens of <paramref name="tokens"/> [N, L, D]. Pass <paramref name="noise"/>
    /// [N, L] to fix the choice (the lowest-noise tokens are kept), else it is drawn from <paramref name="generator"/>.
    /// </summary>
    public static Masked Apply(Tensor tokens, double ratio, Generator? generator = null, Tensor? noise = null)
    {
        if (ratio is < 0 or >= 1 || double.IsNaN(ratio)) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "mask ratio must be in [0, 1)");
        long[] s = tokens.shape;
        if (s.Length != 3) throw new ArgumentException($"masking expects tokens [N, L, D], got {Shapes.Of(s)}", nameof(tokens));
        long n = s[0], l = s[1];
        if (noise is not null && !noise.shape.SequenceEqual(new[] { n, l }))
            throw new ArgumentException($"noise must be [N, L] = [{n}, {l}], got {Shapes.Of(noise.shape)}", nameof(noise));
        using var u = noise?.to(tokens.device) ?? SeededDraws.Rand([n, l], 0, ScalarType.Float32, tokens.device, generator);   // [N, L]
        return KeepLowest(tokens, u, KeepCount((int)l, ratio));
    }

    /// <summary>
    /// Masking in aligned <paramref name="block"/>×<paramref name="block"/> blocks of the <paramref name="grid"/>×grid
    /// patch grid (CMAE's official <c>random_masking</c>, block 2): every patch takes its block's noise and the lowest are
    /// kept. When the block divides the grid (the official code's case) ⌊Lb·(1−ratio)⌋ of the Lb = (grid/block)² blocks
    /// are kept whole, block² times that many tokens. Otherwise blocks tile from the top-left corner, those on the right
    /// and bottom edges partial, and ⌊L·(1−ratio)⌋ tokens are kept, so one block may be cut (its kept patches are the
    /// first in position order). <paramref name="noise"/> [N, Lb], Lb = ⌈grid/block⌉² blocks row-major, fixes the choice.
    /// Block 1 is <see cref="Apply"/>.
    /// </summary>
    public static Masked ApplyBlocks(Tensor tokens, double ratio, int grid, int block, Generator? generator = null, Tensor? noise = null)
    {
        if (ratio is < 0 or >= 1 || double.IsNaN(ratio)) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "mask ratio must be in [0, 1)");
        if (block < 1 || block > grid) throw new ArgumentOutOfRangeException(nameof(block), block, $"must be in [1, {grid}] for a {grid}×{grid} patch grid");
        long[] s = tokens.shape;
        int l = grid * grid;
        if (s.Length != 3 || s[1] != l)
            throw new ArgumentException($"masking expects tokens [N, {l}, D] for a {grid}×{grid} grid, got {Shapes.Of(s)}", nameof(tokens));
        long n = s[0];
        int gb = (grid + block - 1) / block, lb = gb * gb;
        if (noise is not null && !noise.shape.SequenceEqual(new[] { n, (long)lb }))
            throw new ArgumentException($"block noise must be [N, Lb] = [{n}, {lb}], got {Shapes.Of(noise.shape)}", nameof(noise));
        using var scope = torch.NewDisposeScope();
        var u = noise?.to(ScalarType.Float32, tokens.device) ?? SeededDraws.Rand([n, lb], 0, ScalarType.Float32, tokens.device, generator);   // [N, Lb]
        // The block of each patch, row-major: (row / b)·gb + col / b.
        var blockOf = torch.tensor(Enumerable.Range(0, l).Select(t => (long)(t / grid / block * gb + t % grid / block)).ToArray(),
                                   device: tokens.device);   // [L]
        var perPatch = u.index_select(1, blockOf);                                           // [N, L]
        int keep = grid % block == 0 ? KeepCount(lb, ratio) * block * block : KeepCount(l, ratio);
        var masked = KeepLowest(tokens, perPatch, keep);
        scope.MoveToOuter(masked.Visible, masked.Mask, masked.IdsRestore, masked.IdsKeep);
        return masked;
    }

    private static Masked KeepLowest(Tensor tokens, Tensor u, int keep)
    {
        long n = u.size(0), l = u.size(1);
        var (sorted, shuffle) = u.sort(1, false, true);           // ascending, stable: small noise is kept, ties in position order
        sorted.Dispose();
        using var idsShuffle = shuffle;
        var idsRestore = idsShuffle.argsort(1);                  // [N, L]
        using var idsKeepView = idsShuffle.narrow(1, 0, keep);   // [N, Lv]
        var idsKeep = idsKeepView.contiguous();
        var visible = Tokens.Gather(tokens, idsKeep);             // [N, Lv, D]
        // Binary mask in the shuffled order (0 for the first `keep`, 1 after), unshuffled to the original order.
        using var shuffled = torch.ones([n, l], tokens.dtype, tokens.device);
        using (var zeroed = shuffled.narrow(1, 0, keep)) zeroed.zero_();
        var mask = shuffled.gather(1, idsRestore);                // [N, L]
        return new Masked(visible, mask, idsRestore, idsKeep);
    }

    /// <summary>Masking from an explicit mask [N, L] (1 = removed) with the same kept count in every row.</summary>
    public static Masked FromMask(Tensor tokens, Tensor mask)
    {
        long[] s = tokens.shape;
        if (s.Length != 3) throw new ArgumentException($"masking expects tokens [N, L, D], got {Shapes.Of(s)}", nameof(tokens));
        if (!mask.shape.SequenceEqual(s.Take(2)))
            throw new ArgumentException($"mask must be [N, L] = [{s[0]}, {s[1]}], got {Shapes.Of(mask.shape)}", nameof(mask));
        using var m = mask.to(ScalarType.Float32, tokens.device);
        using var counts = m.sum(1);
        using var countsCpu = counts.cpu();
        var kept = countsCpu.data<float>().ToArray().Select(c => s[1] - (long)c).Distinct().ToArray();
        if (kept.Length != 1) throw new ArgumentException("every row of the mask must remove the same number of tokens", nameof(mask));
        // A stable order that puts kept tokens first, in position order, is the "noise" whose argsort keeps them.
        using var positions = torch.arange(0, s[1], 1, ScalarType.Float32, tokens.device);
        using var scaled = positions / (double)s[1];             // in [0, 1): keeps position order within each group
        using var noise = m + scaled;                             // kept: [0,1), removed: [1,2)
        return KeepLowest(tokens, noise, (int)kept[0]);
    }
}
