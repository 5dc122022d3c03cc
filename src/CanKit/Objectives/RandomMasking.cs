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
        if (s.Length != 3) throw new ArgumentException($"masking expects tokens [N, L, D], got [{string.Join(", ", s)}]", nameof(tokens));
        long n = s[0], l = s[1];
        if (noise is not null && !noise.shape.SequenceEqual(new[] { n, l }))
            throw new ArgumentException($"noise must be [N, L] = [{n}, {l}], got [{string.Join(", ", noise.shape)}]", nameof(noise));
        using var u = noise?.to(tokens.device) ?? torch.rand([n, l], ScalarType.Float32, tokens.device, generator: generator);   // [N, L]
        return KeepLowest(tokens, u, KeepCount((int)l, ratio));
    }

    /// <summary>
    /// Masking in aligned <paramref name="block"/>×<paramref name="block"/> blocks of the <paramref name="grid"/>×grid
    /// patch grid (CMAE's official <c>random_masking</c>, block 2): ⌊Lb·(1−ratio)⌋ of the Lb = (grid/block)² blocks are
    /// kept, each with all its patches, so block² times that many tokens survive. <paramref name="noise"/> [N, Lb]
    /// (blocks row-major) fixes the choice, lowest kept; block 1 is <see cref="Apply"/>.
    /// </summary>
    public static Masked ApplyBlocks(Tensor tokens, double ratio, int grid, int block, Generator? generator = null, Tensor? noise = null)
    {
        if (ratio is < 0 or >= 1 || double.IsNaN(ratio)) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "mask ratio must be in [0, 1)");
        if (block < 1 || grid % block != 0)
            throw new ArgumentOutOfRangeException(nameof(block), block, $"the {grid}×{grid} patch grid does not split into {block}×{block} blocks");
        long[] s = tokens.shape;
        if (s.Length != 3 || s[1] != (long)grid * grid)
            throw new ArgumentException($"masking expects tokens [N, {grid * grid}, D] for a {grid}×{grid} grid, got [{string.Join(", ", s)}]", nameof(tokens));
        long n = s[0];
        int gb = grid / block, lb = gb * gb;
        if (noise is not null && !noise.shape.SequenceEqual(new[] { n, (long)lb }))
            throw new ArgumentException($"block noise must be [N, Lb] = [{n}, {lb}], got [{string.Join(", ", noise.shape)}]", nameof(noise));
        using var scope = torch.NewDisposeScope();
        var u = noise?.to(ScalarType.Float32, tokens.device) ?? torch.rand([n, lb], ScalarType.Float32, tokens.device, generator: generator);   // [N, Lb]
        // Every patch takes its block's noise: [N, gb, 1, gb, 1] → [N, gb, b, gb, b] → [N, L] (row-major patch order).
        var perPatch = u.view(n, gb, 1, gb, 1).expand(n, gb, block, gb, block).reshape(n, (long)grid * grid);
        // Blocks' noise values differ, so the kept set is whole blocks; the order inside a block does not matter.
        var masked = KeepLowest(tokens, perPatch, KeepCount(lb, ratio) * block * block);
        scope.MoveToOuter(masked.Visible, masked.Mask, masked.IdsRestore, masked.IdsKeep);
        return masked;
    }

    private static Masked KeepLowest(Tensor tokens, Tensor u, int keep)
    {
        long n = u.size(0), l = u.size(1);
        using var idsShuffle = u.argsort(1);                     // ascending: small noise is kept
        var idsRestore = idsShuffle.argsort(1);                  // [N, L]
        using var idsKeepView = idsShuffle.narrow(1, 0, keep);   // [N, Lv]
        var idsKeep = idsKeepView.contiguous();
        var visible = Gather(tokens, idsKeep);                    // [N, Lv, D]
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
        if (s.Length != 3) throw new ArgumentException($"masking expects tokens [N, L, D], got [{string.Join(", ", s)}]", nameof(tokens));
        if (!mask.shape.SequenceEqual(s.Take(2)))
            throw new ArgumentException($"mask must be [N, L] = [{s[0]}, {s[1]}], got [{string.Join(", ", mask.shape)}]", nameof(mask));
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

    /// <summary>Selects tokens: x [N, L, D], ids [N, K] → [N, K, D].</summary>
    public static Tensor Gather(Tensor x, Tensor ids)
    {
        long d = x.size(-1);
        using var idx = ids.unsqueeze(-1);                        // [N, K, 1]
        using var exp = idx.expand(-1, -1, d);                    // [N, K, D]
        return x.gather(1, exp);
    }
}
