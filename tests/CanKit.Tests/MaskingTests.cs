using CanKit.Objectives;
using Xunit;

namespace CanKit.Tests;

/// <summary>Random, block and explicit masking: how many tokens are kept, which ones, and that ids_restore undoes the shuffle.</summary>
public class MaskingTests
{
    [Theory]
    [InlineData(16, 0.0)]
    [InlineData(16, 0.5)]
    [InlineData(49, 0.75)]
    [InlineData(64, 0.65)]
    [InlineData(10, 0.99)]
    public void MaskingKeepsFloorOfLTimesOneMinusRatioAndRestoresOrder(int l, double ratio)
    {
        const int n = 5, d = 3;
        var g = new Generator(21);
        using var x = torch.randn([n, l, d], generator: g);
        using var m = RandomMasking.Apply(x, ratio, g);
        int keep = (int)(l * (1 - ratio));
        Assert.Equal(new long[] { n, keep, d }, m.Visible.shape);
        double[] mask = Approx.Values(m.Mask);
        for (int i = 0; i < n; i++) Assert.Equal(l - keep, mask.Skip(i * l).Take(l).Count(v => v == 1));
        AssertRestoresOrder(x, m, keep);
        // The visible tokens are exactly the unmasked positions.
        if (keep == 0) return;
        long[] ids = m.IdsKeep.data<long>().ToArray();
        for (int i = 0; i < n; i++)
            foreach (long j in ids.Skip(i * keep).Take(keep)) Assert.Equal(0, mask[i * l + (int)j]);
    }

    /// <summary>ids_restore inverts the shuffle: gathering [kept; removed] with it gives back the original order.</summary>
    private static void AssertRestoresOrder(Tensor x, Masked m, int keep)
    {
        long l = x.size(1);
        using var shuffle = m.IdsRestore.argsort(1);
        using var removedIds = shuffle.narrow(1, keep, l - keep);
        using var removed = CanKit.Tensors.Tokens.Gather(x, removedIds);
        using var shuffled = torch.cat([m.Visible, removed], 1);
        using var restored = CanKit.Tensors.Tokens.Gather(shuffled, m.IdsRestore);
        Assert.Equal(Approx.Values(x), Approx.Values(restored));
    }

    [Fact]
    public void MaskedPositionsAreUniform()
    {
        // χ² goodness of fit of how often each of L = 16 positions is removed, 4000 samples at ratio 0.5.
        const int n = 4000, l = 16;
        var g = new Generator(12345);
        using var x = torch.zeros([n, l, 1]);
        using var m = RandomMasking.Apply(x, 0.5, g);
        double[] mask = Approx.Values(m.Mask);
        var counts = new double[l];
        for (int i = 0; i < n; i++) for (int j = 0; j < l; j++) counts[j] += mask[i * l + j];
        double expected = n * 0.5, chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 30.58, $"χ² = {chi2:F2} with 15 degrees of freedom exceeds the 1% critical value 30.58");
    }

    /// <summary>
    /// CMAE's block masking (official <c>random_masking</c>): the mask is a union of aligned 2×2 blocks, ⌊Lb·(1−ratio)⌋
    /// blocks are kept whole, the visible tokens are exactly the kept positions and ids_restore inverts the order.
    /// </summary>
    [Theory]
    [InlineData(4, 0.65)]
    [InlineData(8, 0.65)]
    [InlineData(8, 0.5)]
    [InlineData(14, 0.75)]
    public void BlockMaskingRemovesWholeAlignedBlocks(int grid, double ratio)
    {
        const int n = 6, d = 2, b = 2;
        int l = grid * grid, gb = grid / b, lb = gb * gb, keepBlocks = (int)(lb * (1 - ratio));
        var g = new Generator(31);
        using var x = torch.randn([n, l, d], generator: g);
        using var m = RandomMasking.ApplyBlocks(x, ratio, grid, b, g);
        Assert.Equal(new long[] { n, keepBlocks * 4, d }, m.Visible.shape);
        double[] mask = Approx.Values(m.Mask);
        for (int i = 0; i < n; i++)
        {
            int kept = 0;
            for (int bi = 0; bi < gb; bi++)
            for (int bj = 0; bj < gb; bj++)
            {
                double first = mask[i * l + bi * b * grid + bj * b];
                for (int di = 0; di < b; di++)
                for (int dj = 0; dj < b; dj++)
                    Assert.Equal(first, mask[i * l + (bi * b + di) * grid + bj * b + dj]);
                if (first == 0) kept++;
            }
            Assert.Equal(keepBlocks, kept);
        }
        long[] ids = m.IdsKeep.data<long>().ToArray();
        for (int i = 0; i < n; i++)
            foreach (long j in ids.Skip(i * keepBlocks * 4).Take(keepBlocks * 4)) Assert.Equal(0, mask[i * l + (int)j]);
        using var visibleRef = CanKit.Tensors.Tokens.Gather(x, m.IdsKeep);
        Assert.Equal(Approx.Values(visibleRef), Approx.Values(m.Visible));
        AssertRestoresOrder(x, m, keepBlocks * 4);
        Assert.Equal("block", Assert.Throws<ArgumentOutOfRangeException>(() => RandomMasking.ApplyBlocks(torch.zeros(1, 49, 1), 0.5, 7, 8)).ParamName);
    }

    /// <summary>
    /// A 7×7 grid in 2×2 blocks (CanKit's extension for grids the block does not divide): blocks tile from the top-left,
    /// the last row and column of blocks partial; ⌊49·(1 − ratio)⌋ patches are kept, the lowest-noise blocks first, so at
    /// most one block is cut, and within it the kept patches come first in position order.
    /// </summary>
    [Theory]
    [InlineData(0.65)]
    [InlineData(0.5)]
    public void BlockMaskingOnAGridTheBlockDoesNotDivide(double ratio)
    {
        const int n = 50, grid = 7, gb = 4;
        int keep = (int)(49 * (1 - ratio));
        var g = new Generator(8);
        using var x = torch.randn([n, 49, 1], generator: g);
        using var noise = torch.rand([n, gb * gb], generator: g);
        using var m = RandomMasking.ApplyBlocks(x, ratio, grid, 2, noise: noise);
        Assert.Equal(new long[] { n, keep, 1 }, m.Visible.shape);
        double[] mask = Approx.Values(m.Mask), u = Approx.Values(noise);
        for (int i = 0; i < n; i++)
        {
            // Blocks in order of their noise; each fully kept until the budget runs out inside (at most) one of them.
            var order = Enumerable.Range(0, gb * gb).OrderBy(b => u[i * gb * gb + b]).ToArray();
            int left = keep;
            foreach (int b in order)
            {
                var cells = Enumerable.Range(0, 49).Where(t => t / grid / 2 * gb + t % grid / 2 == b).ToArray();   // position order
                foreach (int t in cells)
                    Assert.Equal(left-- > 0 ? 0.0 : 1.0, mask[i * 49 + t]);
            }
        }
        AssertRestoresOrder(x, m, keep);
    }

    [Fact]
    public void BlockMaskingKeepsTheLowestNoiseBlocksAndIsUniform()
    {
        // Given noise: on a 4×4 grid (2×2 blocks 0..3 row-major), noise (0.9, 0.1, 0.5, 0.3) at ratio 0.5 keeps blocks 1 and 3.
        using var x = torch.zeros([1, 16, 1]);
        using var noise = torch.tensor(new float[] { 0.9f, 0.1f, 0.5f, 0.3f }, [1, 4]);
        using (var m = RandomMasking.ApplyBlocks(x, 0.5, 4, 2, noise: noise))
            Assert.Equal(new double[] { 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0 }, Approx.Values(m.Mask));
        // χ² goodness of fit of how often each of the Lb = 16 blocks of an 8×8 grid is removed, 4000 samples at 0.5.
        const int n = 4000, lb = 16;
        var g = new Generator(2024);
        using var tokens = torch.zeros([n, 64, 1]);
        using var mb = RandomMasking.ApplyBlocks(tokens, 0.5, 8, 2, g);
        using var perBlock = mb.Mask.view(n, 4, 2, 4, 2).select(4, 0).select(2, 0).reshape(n, lb);   // each block's top-left patch
        double[] mask = Approx.Values(perBlock);
        var counts = new double[lb];
        for (int i = 0; i < n; i++) for (int j = 0; j < lb; j++) counts[j] += mask[i * lb + j];
        double expected = n * 0.5, chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 30.58, $"χ² = {chi2:F2} with 15 degrees of freedom exceeds the 1% critical value 30.58");
    }

    [Fact]
    public void ExplicitMaskIsHonoured()
    {
        using var x = torch.arange(0, 2 * 4 * 2, 1, ScalarType.Float32).reshape(2, 4, 2);
        using var mask = torch.tensor(new float[] { 1, 0, 1, 0, 0, 0, 1, 1 }, [2, 4]);
        using var m = RandomMasking.FromMask(x, mask);
        Assert.Equal(Approx.Values(mask), Approx.Values(m.Mask));
        Assert.Equal(new double[] { 2, 3, 6, 7, 8, 9, 10, 11 }, Approx.Values(m.Visible));
        using var uneven = torch.tensor(new float[] { 1, 0, 0, 0, 0, 0, 1, 1 }, [2, 4]);
        Assert.Equal("mask", Assert.Throws<ArgumentException>(() => RandomMasking.FromMask(x, uneven)).ParamName);
    }
}
