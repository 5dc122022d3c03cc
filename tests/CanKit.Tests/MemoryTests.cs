using CanKit.Optim;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>A long training loop must not leak native tensors or grow resident memory.</summary>
[Collection("native-memory")]
public class MemoryTests(ITestOutputHelper output)
{
    internal static long ResidentBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("VmRSS not found in /proc/self/status");
    }

    // Tensors alive on this thread as TorchSharp counts them (created minus disposed, in and out of scopes).
    private static long LiveTensors() => DisposeScopeManager.Statistics.ThreadTotalLiveCount;

    [Fact]
    public void ThousandTrainingStepsKeepLiveTensorsConstantAndMemoryFlat()
    {
        const int warmup = 500, steps = 1500, batch = 256;
        var samples = new List<string>();
        manual_seed(11);
        using var gen = new Generator(11);
        using var model = nn.Sequential(("0", nn.Linear(64, 128)), ("1", nn.GELU()), ("2", nn.LayerNorm(128)), ("3", nn.Linear(128, 10)));
        var trainable = model.parameters().ToList();
        using var opt = new AdamW(WeightDecayGroups.Split(model, 0.05), lr: 1e-3);
        var schedule = new WarmupCosineSchedule(1e-3, 50, steps);
        using var x = randn([batch, 64], generator: gen);
        using var y = randint(0, 10, [batch], generator: gen);
        long liveAfterWarmup = 0, rssAfterWarmup = 0;
        float firstLoss = 0, lastLoss = 0;
        for (int step = 0; step < steps; step++)
        {
            // One whole step in one scope, as the trainer runs it: forward, backward, clipping, the optimiser's update.
            using (NewDisposeScope())
            {
                schedule.Apply(opt, step);
                opt.zero_grad();
                var noisy = x + randn(x.shape, generator: gen) * 0.01;
                var loss = nn.functional.cross_entropy(model.forward(noisy), y, label_smoothing: 0.1);
                loss.backward();
                nn.utils.clip_grad_norm_(trainable, 1.0);
                opt.step();
                lastLoss = loss.item<float>();
                if (step == 0) firstLoss = lastLoss;
            }
            if (step % 250 == 0) samples.Add($"{step}:{ResidentBytes() / 1e6:F1}");
            if (step == warmup)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                liveAfterWarmup = LiveTensors();
                rssAfterWarmup = ResidentBytes();
            }
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long live = LiveTensors(), rss = ResidentBytes();
        long growth = rss - rssAfterWarmup;
        output.WriteLine($"live tensors {liveAfterWarmup} → {live}; " +
                         $"RSS {rssAfterWarmup / 1e6:F1} MB → {rss / 1e6:F1} MB ({growth / 1e6:+0.0;-0.0} MB) " +
                         $"over {steps - warmup} steps [{string.Join(" ", samples)}]; " +
                         $"loss {firstLoss:F3} → {lastLoss:F3}");
        // Exact: every tensor a step creates is disposed by its scope.
        Assert.Equal(liveAfterWarmup, live);
        // Native memory the count cannot see (an autograd graph kept alive, optimiser state re-allocated): the smallest
        // activation, [256, 128] float32, is 128 KB, so leaking one per step adds 128 MB over 1000 steps. Allocator and
        // GC noise in a shared test process stays within a few MB; a quarter of that leak is the bound.
        long smallestLeak = (long)batch * 128 * sizeof(float) * (steps - warmup);
        Assert.True(growth < smallestLeak / 4, $"resident memory grew {growth / 1e6:F1} MB over {steps - warmup} steps (bound {smallestLeak / 4 / 1e6:F0} MB)");
        Assert.True(lastLoss < firstLoss * 0.5, "the model did not train");
    }
}

/// <summary>Runs alone: the live-tensor count and RSS are process-wide.</summary>
[CollectionDefinition("native-memory", DisableParallelization = true)]
public class NativeMemoryCollection;
