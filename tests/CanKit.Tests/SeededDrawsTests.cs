using CanKit.Augment;
using CanKit.Data;
using CanKit.Distributed;
using CanKit.Objectives;
using CanKit.Sampling;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The world-size-independent random draws of data-parallel training, in one process: shard r of W, drawing from a
/// generator in the same state, gets exactly rows [r·n, (r+1)·n) of what one process holding all W·n samples draws.
/// </summary>
public sealed class SeededDrawsTests
{
    private static Tensor Images(int n)
    {
        using var g = new Generator(3);
        return randint(0, 256, [n, 3, 16, 16], ScalarType.Byte, generator: g);     // [N, C, H, W]
    }

    // Views, masks and noise as CAN draws them: the two views' pipelines, then noise and masking on the stacked [2n].
    private static Tensor[] CanDraws(Tensor raw, ulong seed)
    {
        using var g = new Generator(seed);
        var (v1, v2) = TwoViewPipeline.ForCmae(PixelShift.OfficialCode).Apply(raw, Normalization.Cifar10, 16, g);
        var (w1, w2) = TwoViewPipeline.Can.Apply(raw, Normalization.Cifar10, 16, g);
        using var x = cat([w1, w2], 0);                                              // [2n, C, H, W]
        var noised = GaussianNoise.Apply(x, 0.05, g);
        using var tokens = zeros([x.size(0), 16, 4]);                                // [2n, L, D]
        var masked = RandomMasking.Apply(tokens, 0.5, g);
        return [v1, v2, w1, w2, noised.Sigma, noised.Noise, masked.Mask];
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void EachShardDrawsItsRowsOfTheGlobalBatch(int world)
    {
        const int n = 3;
        using var all = Images(world * n);
        var whole = CanDraws(all, 17);
        for (int r = 0; r < world; r++)
        {
            using var mine = all.narrow(0, r * n, n);
            Tensor[] part;
            using (SeededDraws.Enter(r, world, n)) part = CanDraws(mine, 17);
            for (int i = 0; i < whole.Length; i++)
            {
                // Per-sample draws of [n] (views) or stacked views [2n] (σ, noise, mask): block k of the shard is rows
                // k·W·n + r·n … of the whole.
                long blocks = part[i].size(0) / n;
                using var expected = cat(Enumerable.Range(0, (int)blocks).Select(k => whole[i].narrow(0, k * world * n + r * n, n)).ToList(), 0);
                Assert.Equal(expected.shape, part[i].shape);
                Assert.True(expected.eq(part[i]).all().item<bool>(), $"draw {i} of rank {r} of {world}");
            }
        }
    }

    [Fact]
    public void ADrawThatIsNotWholeBlocksOfTheShardIsABug()
    {
        using var g = new Generator(1);
        using var _ = SeededDraws.Enter(0, 2, 3);
        var e = Assert.Throws<InvalidOperationException>(() => SeededDraws.Rand([4, 5], 0, ScalarType.Float32, CPU, g));
        Assert.Contains("4 samples on a shard of 3", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => SeededDraws.Enter(2, 2, 3));
    }
}
