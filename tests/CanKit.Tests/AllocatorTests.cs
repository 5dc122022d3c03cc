using CanKit.Nn;
using CanKit.Optim;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// CanKit's caching CPU allocator: steady-state training steps reuse cached blocks (no new ones after warm-up),
/// resident memory stays flat, values are unaffected, and the cache can be switched off and emptied.
/// Runs with the other process-wide memory tests.
/// </summary>
[Collection("native-memory")]
public class AllocatorTests(ITestOutputHelper output)
{
    [Fact]
    public void Steady_training_steps_reuse_blocks_and_keep_memory_flat()
    {
        Assert.True(Torch.CpuAllocator.Caching, "the caching allocator should be installed (CANKIT_CPU_ALLOCATOR unset)");
        using var gen = new Generator(3);
        // Activations of 2048 × 1024 floats (8 MB): far above the 64 KiB caching threshold.
        using var model = new Sequential(new Linear(256, 1024, generator: gen), new GELU(), new Linear(1024, 256, generator: gen));
        using var opt = new AdamW(AdamW.DecayGroups(model, 0.05), lr: 1e-3);
        using var x = Tensor.Randn([2048, 256], gen);
        using var target = Tensor.Randn([2048, 256], gen);
        void Step()
        {
            using var scope = Torch.NewDisposeScope();
            opt.ZeroGrad();
            var loss = Functional.MseLoss(model.Forward(x), target);
            loss.Backward();
            opt.Step();
        }
        // Warm-up long enough for one-off growth elsewhere in the process to settle (oneDNN's first primitives, the
        // managed heap): RSS rises by ~20 MB over the first 40 steps here, then returns and stays flat.
        for (int i = 0; i < 50; i++) Step();
        var warm = Torch.CpuAllocator;
        long rssWarm = Rss();
        for (int i = 0; i < 100; i++) Step();
        var after = Torch.CpuAllocator;
        long rss = Rss();
        output.WriteLine($"after warm-up {warm}; after 100 more steps {after}; RSS {rssWarm / 1e6:F1} → {rss / 1e6:F1} MB");
        Assert.Equal(warm.Misses, after.Misses);                 // every large block came from the cache
        Assert.True(after.Hits - warm.Hits >= 100 * 4, $"expected ≥ 4 reused blocks per step, got {after.Hits - warm.Hits} in 100 steps");
        Assert.True(rss - rssWarm < 0.02 * rssWarm, $"resident memory grew from {rssWarm / 1e6:F1} to {rss / 1e6:F1} MB");
    }

    [Fact]
    public void Reused_blocks_give_the_same_values_and_the_cache_empties()
    {
        using var gen = new Generator(4);
        using var a = Tensor.Randn([512, 384], gen);
        using var b = Tensor.Randn([384, 256], gen);
        double[] first;
        using (var c = a.MatMul(b)) first = c.To(DType.Float64).ToArray<double>();
        long hits = Torch.CpuAllocator.Hits;
        using (var c = a.MatMul(b))                              // the freed 512 KB result block comes back
        {
            Assert.True(Torch.CpuAllocator.Hits > hits);
            Approx.Equal(first, c, 0);
        }
        using (var z = Tensor.Zeros([512, 256]))                 // a reused block is still zero-filled by zeros()
            Assert.Equal(0.0, z.Abs().Sum().Item<float>());
        Torch.EmptyCpuCache();
        Assert.Equal(0, Torch.CpuAllocator.CachedBytes);
    }

    [Fact]
    public void Caching_can_be_switched_off_and_on()
    {
        Assert.True(Torch.CpuCaching);
        using (Torch.Override(EngineSetting.CpuCaching, false))
        {
            Assert.False(Torch.CpuCaching);
            Assert.Equal(0, Torch.CpuAllocator.CachedBytes);    // switching off empties the cache
            long hits = Torch.CpuAllocator.Hits;
            for (int i = 0; i < 3; i++) Tensor.Ones([256, 1024]).Dispose();
            Assert.Equal(hits, Torch.CpuAllocator.Hits);
            Assert.Equal(0, Torch.CpuAllocator.CachedBytes);
        }
        Assert.True(Torch.CpuCaching);                           // the scope restored it
        Tensor.Ones([256, 1024]).Dispose();
        Assert.True(Torch.CpuAllocator.CachedBytes >= 256 * 1024 * 4);
    }

    private static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return MemoryTests.ResidentBytes();
    }
}
