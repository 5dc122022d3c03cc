using CanKit.Data;
using CanKit.Evaluation;
using CanKit.IO;
using CanKit.Methods;
using CanKit.Training;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// A seed fixes a run: initial weights, views, masks, noise and data order all come from the run's own generators,
/// so libtorch's global generator, which any other code in the process may draw from or reseed, cannot change it.
/// Each check builds or trains twice with the global generator reseeded differently in between and compares bytes.
/// </summary>
public sealed class SeedingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-seed-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly VitConfig Enc = new() { ImageSize = 32, PatchSize = 8, InChannels = 3, Width = 32, Depth = 1, Heads = 2 };
    private static readonly DecoderConfig Dec = new() { Width = 16, Depth = 1, Heads = 2 };

    // The presets as a run uses them ("paper" CAN through RunSpec), decoders cut down where the preset's is large.
    private static MethodSpec Spec(MethodKind kind) => kind switch
    {
        MethodKind.Can => new RunSpec("can", "paper", "cifar10", null, Width: 32, Depth: 1, Heads: 2, PatchSize: 8, BatchSize: 16, Steps: 3,
                                        LearningRate: 1e-3).MethodSpec(),
        MethodKind.Cmae => new("cmae", kind, Cmae: new CmaeConfig { PixelDecoder = Dec, ProjectionDim = 16, ProjectionHidden = 32 }),
        MethodKind.Mae => new("mae", kind, Mae: MaeConfig.Paper with { Decoder = Dec }),
        MethodKind.SimClr => new("simclr", kind),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Reseeds the global generator and draws from it, so its state differs from any earlier call's.</summary>
    private static void DisturbGlobalGenerator(long seed)
    {
        torch.manual_seed(seed);
        using var drawn = torch.rand(1000);
    }

    private static Dictionary<string, byte[]> Bytes(IEnumerable<(string Name, Tensor Value)> tensors) =>
        tensors.ToDictionary(kv => kv.Name, kv =>
        {
            using var c = kv.Value.detach().cpu().contiguous();
            return c.bytes.ToArray();
        });

    private static void AssertSameBytes(Dictionary<string, byte[]> a, Dictionary<string, byte[]> b)
    {
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        var differing = a.Keys.Where(k => !a[k].SequenceEqual(b[k])).OrderBy(k => k).ToList();
        Assert.True(differing.Count == 0, $"{differing.Count} of {a.Count} tensors differ: {string.Join(", ", differing.Take(12))}");
    }

    private static Dictionary<string, byte[]> Build(MethodKind kind, long globalSeed)
    {
        DisturbGlobalGenerator(globalSeed);
        using var g = new Generator(7);
        using var method = Spec(kind).Create(Enc, g);
        return Bytes(method.Module.state_dict().Select(kv => (kv.Key, kv.Value)));
    }

    [Theory]
    [InlineData(MethodKind.Can)]
    [InlineData(MethodKind.Cmae)]
    [InlineData(MethodKind.Mae)]
    [InlineData(MethodKind.SimClr)]
    public void SeededModelConstructionRepeatsExactly(MethodKind kind) => AssertSameBytes(Build(kind, 1), Build(kind, 12345));

    [Fact]
    public void SeededClassifierHeadRepeatsExactly()
    {
        Dictionary<string, byte[]> Head(long globalSeed)
        {
            DisturbGlobalGenerator(globalSeed);
            using var g = new Generator(7);
            using var head = ClassifierHead.Create(32, 10, g);
            return Bytes(head.state_dict().Select(kv => (kv.Key, kv.Value)));
        }
        AssertSameBytes(Head(1), Head(12345));
    }

    /// <summary>A CIFAR-10 folder in the official binary layout: 5 train files of <paramref name="perFile"/> random images.</summary>
    [Theory]
    [InlineData("can")]
    [InlineData("cmae")]
    [InlineData("mae")]
    [InlineData("simclr")]
    public void SeededRunsRepeatExactly(string method)
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        // As `cankit pretrain` runs it (CAN with the "paper" preset): 3 steps of 16 images, logged and checkpointed every step.
        var spec = new RunSpec(method, "paper", "cifar10", root, Width: 32, Depth: 1, Heads: 2, PatchSize: 8, BatchSize: 16, Steps: 3, LearningRate: 1e-3);
        (Dictionary<string, byte[]> State, IReadOnlyList<StepMetrics> Log) Run(string name, long globalSeed)
        {
            DisturbGlobalGenerator(globalSeed);
            string dir = Path.Combine(_dir, name);
            Assert.Equal(TrainOutcome.Completed, PretrainRun.Pretrain(spec, dir, CPU, checkpointEvery: 1, logEvery: 1));
            using var state = SafeTensors.Load(Path.Combine(dir, Trainer.CheckpointFile));
            return (Bytes(state.Select(kv => (kv.Key, kv.Value))), MetricsLog.Read(Path.Combine(dir, "metrics.jsonl")));
        }
        var first = Run("first", 1);
        var second = Run("second", 12345);
        // Every logged loss term of every step, then every checkpoint tensor (weights, AdamW moments, generator state).
        static object Terms(StepMetrics m) => (m.Step, m.Loss, m.Contrastive, m.Reconstruction, m.Denoise, m.ContrastiveTop1);
        Assert.Equal(3, first.Log.Count);
        Assert.Equal(first.Log.Select(Terms), second.Log.Select(Terms));
        AssertSameBytes(first.State, second.State);
    }
}
