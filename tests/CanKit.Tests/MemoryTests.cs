using CanKit.Nn;
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

    [Fact]
    public void ThousandTrainingStepsKeepHandlesConstantAndMemoryFlat()
    {
        const int warmup = 500, steps = 1500;
        var samples = new List<string>();
        using var gen = new Generator(11);
        using var model = new Sequential(new Linear(64, 128, generator: gen), new GELU(), new LayerNorm(128), new Linear(128, 10, generator: gen));
        using var opt = new AdamW(AdamW.DecayGroups(model, 0.05), lr: 1e-3);
        using var x = Tensor.Randn([32, 64], gen);
        using var y = Tensor.RandInt(0, 10, [32], gen);
        long handlesAfterWarmup = 0, rssAfterWarmup = 0;
        float firstLoss = 0, lastLoss = 0;
        for (int step = 0; step < steps; step++)
        {
            using (var scope = Torch.NewDisposeScope())
            {
                opt.ZeroGrad();
                var loss = Functional.CrossEntropy(model.Forward(x), y, labelSmoothing: 0.1);
                loss.Backward();
                GradClip.ClipGradNorm(model.Parameters(), 1.0);
                opt.Step();
                lastLoss = loss.Item<float>();
                if (step == 0) firstLoss = lastLoss;
            }
            if (step % 250 == 0) samples.Add($"{step}:{ResidentBytes() / 1e6:F1}");
            if (step == warmup)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                handlesAfterWarmup = Torch.LiveTensorHandles;
                rssAfterWarmup = ResidentBytes();
            }
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long handles = Torch.LiveTensorHandles, rss = ResidentBytes();
        double growth = (double)(rss - rssAfterWarmup) / rssAfterWarmup;
        output.WriteLine($"live handles {handlesAfterWarmup} → {handles}; RSS {rssAfterWarmup / 1e6:F1} MB → {rss / 1e6:F1} MB ({growth:P2}) over {steps - warmup} steps [{string.Join(" ", samples)}]; loss {firstLoss:F3} → {lastLoss:F3}");
        Assert.Equal(handlesAfterWarmup, handles);
        Assert.True(growth < 0.02, $"resident memory grew {growth:P2} over {steps - warmup} steps");
        Assert.True(lastLoss < firstLoss * 0.5, "the model did not train");
    }
}

/// <summary>Runs alone: the live-handle count and RSS are process-wide.</summary>
[CollectionDefinition("native-memory", DisableParallelization = true)]
public class NativeMemoryCollection;
