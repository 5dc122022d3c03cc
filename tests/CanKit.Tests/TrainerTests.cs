using CanKit.Data;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Training;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-train-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly VitConfig Enc = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 1, Heads = 2 };

    private static ImageSet Synthetic(int n = 48)
    {
        var px = new byte[n * 3 * 16 * 16];
        new Random(3).NextBytes(px);
        return new ImageSet("synthetic", px, Enumerable.Range(0, n).Select(i => i % 4).ToArray(), 3, 16, 16, ["a", "b", "c", "d"], Normalization.Cifar10);
    }

    private static MethodSpec Spec(MethodKind kind) => kind switch
    {
        MethodKind.Can => new("can", kind, Can: new CanConfig { Decoder = new DecoderConfig { Width = 16, Depth = 1, Heads = 2 }, ProjectionDim = 16 }),
        MethodKind.Cmae => new("cmae", kind, Cmae: new CmaeConfig { PixelDecoder = new DecoderConfig { Width = 16, Depth = 1, Heads = 2 },
                                                                    ProjectionDim = 16, ProjectionHidden = 32 }),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    private static TrainConfig Config(long steps) => new() { BatchSize = 16, Accumulation = 2, Steps = steps, LearningRate = 1e-3,
                                                             CheckpointEvery = 2, LogEvery = 1, Seed = 42, ClipNorm = 1.0 };

    private Dictionary<string, byte[]> Train(MethodKind kind, string dir, long steps, Func<int, bool>? cancelAfter = null,
                                             TrainOutcome expect = TrainOutcome.Completed, ImageSet? data = null)
    {
        using var g = new Generator(7);
        using var method = Spec(kind).Create(Enc, g);
        var trainer = new Trainer(method, data ?? Synthetic(), Config(steps), dir, "fingerprint-1");
        using var cts = new CancellationTokenSource();
        int reports = 0;
        var progress = new SyncProgress(m => { reports++; if (cancelAfter?.Invoke(reports) == true) cts.Cancel(); });
        Assert.Equal(expect, trainer.Run(progress, cts.Token));
        return method.Module.state_dict().ToDictionary(kv => kv.Key, kv => Bytes(kv.Value));
    }

    // The exact bits, whatever the dtype: "identical" means byte for byte.
    private static byte[] Bytes(Tensor t)
    {
        using var c = t.detach().cpu().contiguous();
        return c.bytes.ToArray();
    }

    private static AdamW Optimizer(nn.Module module) => new(WeightDecayGroups.Split(module, 0.05));

    private sealed class SyncProgress(Action<StepMetrics> a) : IProgress<StepMetrics>
    {
        public void Report(StepMetrics value) => a(value);
    }

    [Theory]
    [InlineData(MethodKind.Can)]
    [InlineData(MethodKind.Cmae)]
    public void ResumedRunEqualsUninterruptedRun(MethodKind kind)
    {
        var straight = Train(kind, Path.Combine(_dir, "straight"), 6);
        string split = Path.Combine(_dir, "split");
        Train(kind, split, 6, cancelAfter: r => r == 3, expect: TrainOutcome.Interrupted);
        var resumed = Train(kind, split, 6);
        Assert.Equal(straight.Keys.OrderBy(k => k), resumed.Keys.OrderBy(k => k));
        foreach (var k in straight.Keys) Assert.True(straight[k].SequenceEqual(resumed[k]), $"{k} differs after resuming");
        var log = MetricsLog.Read(Path.Combine(split, "metrics.jsonl"));
        Assert.Equal(Enumerable.Range(1, 6).Select(i => (long)i), log.Select(m => m.Step));
        Assert.Equal(File.ReadAllLines(Path.Combine(_dir, "straight", "metrics.csv")).Length, File.ReadAllLines(Path.Combine(split, "metrics.csv")).Length);
    }

    [Fact]
    public void FileBackedRunResumesBitExactAndEqualsTheInMemoryRun()
    {
        // 48 lossless 16² images through the cache, read from the file on demand; the in-memory run of the same
        // cache must give the same parameters bit for bit, and so must an interrupted, resumed file-backed run.
        var (root, _) = SyntheticData.PngFolder(_dir, classes: 4, perClass: 12, side: 16);
        ImageFolder.Load(root, 16);
        var onFile = ImageFolder.Open(root, 16, ImageStorage.File);
        Assert.False(onFile.InMemory);
        var inMemory = Train(MethodKind.Can, Path.Combine(_dir, "memory"), 6, data: ImageFolder.Open(root, 16, ImageStorage.Memory));
        string split = Path.Combine(_dir, "file");
        Train(MethodKind.Can, split, 6, cancelAfter: r => r == 3, expect: TrainOutcome.Interrupted, data: onFile);
        var resumed = Train(MethodKind.Can, split, 6, data: onFile);
        Assert.Equal(inMemory.Keys.OrderBy(k => k), resumed.Keys.OrderBy(k => k));
        foreach (var k in inMemory.Keys)
            Assert.True(inMemory[k].SequenceEqual(resumed[k]), $"{k} differs between the in-memory run and the resumed file-backed run");
    }

    [Fact]
    public void CheckpointOfAnotherConfigIsRejectedNamingTheProblem()
    {
        string dir = Path.Combine(_dir, "run");
        Train(MethodKind.Can, dir, 2);
        using var g = new Generator(7);
        using var method = Spec(MethodKind.Can).Create(Enc, g);
        var other = new Trainer(method, Synthetic(), Config(2), dir, "fingerprint-2");
        Assert.Contains("another configuration", Assert.Throws<InvalidDataException>(() => other.Run()).Message);

        using var wider = Spec(MethodKind.Can).Create(Enc with { Width = 48, Heads = 2 }, g);
        using var opt = Optimizer(wider.Module);
        var e = Assert.Throws<InvalidDataException>(() =>
            Checkpoint.Load(Path.Combine(dir, Trainer.CheckpointFile), wider.Module, opt, g, "can", "fingerprint-1"));
        // The first tensor whose shape differs is named, with both shapes.
        Assert.Matches(@"tensor '[\w.]+' is Float32 \[[\d, ]*32[\d, ]*\], the model needs Float32 \[[\d, ]*48", e.Message);
    }

    [Fact]
    public void AnInterruptedCheckpointWriteLeavesThePreviousOneLoadable()
    {
        string dir = Path.Combine(_dir, "crash");
        Train(MethodKind.Can, dir, 2);
        string path = Path.Combine(dir, Trainer.CheckpointFile);
        byte[] before = File.ReadAllBytes(path);
        // What a kill during a save leaves behind: a partial temporary file beside the checkpoint.
        File.WriteAllBytes(Path.Combine(dir, ".checkpoint.safetensors.0123.tmp"), before[..(before.Length / 2)]);
        using var g = new Generator(7);
        using var method = Spec(MethodKind.Can).Create(Enc, g);
        using var opt = Optimizer(method.Module);
        var info = Checkpoint.Load(path, method.Module, opt, g, "can", "fingerprint-1");
        Assert.Equal(2, info.Step);
        // AdamW's moments and step counts came back: two steps of two micro-batches each.
        Assert.All(opt.state_dict().State, st => Assert.Equal(2, ((AdamW.State)st).step));
        Assert.Contains(opt.state_dict().State, st => ((AdamW.State)st).exp_avg_sq.abs().sum().item<float>() > 0);
        // A checkpoint cut short (e.g. copied while being written elsewhere) is a clear error, not a crash.
        string cut = Path.Combine(dir, "cut.safetensors");
        File.WriteAllBytes(cut, before[..(before.Length - 100)]);
        Assert.Contains(cut, Assert.Throws<InvalidDataException>(() => Checkpoint.Load(cut, method.Module, opt, g, "can", "fingerprint-1")).Message);
    }

    private sealed class NanMethod(IPretrainMethod inner, long nanAtCall) : IPretrainMethod
    {
        private long _calls;
        public string Name => inner.Name;
        public nn.Module Module => inner.Module;
        public VisionTransformer Encoder => inner.Encoder;
        public void AfterOptimizerStep(long step, long totalSteps) => inner.AfterOptimizerStep(step, totalSteps);
        public void Dispose() => inner.Dispose();

        public StepResult Step(Tensor raw, Normalization norm, Generator g, bool keepPredictions = false)
        {
            var r = inner.Step(raw, norm, g, keepPredictions);
            if (++_calls < nanAtCall) return r;
            return r with { Terms = r.Terms with { Reconstruction = double.NaN } };
        }
    }

    [Fact]
    public void NaNStopsTheRunNamingStepAndTermAndKeepsTheLastGoodCheckpoint()
    {
        string dir = Path.Combine(_dir, "nan");
        using var g = new Generator(7);
        using var method = new NanMethod(Spec(MethodKind.Can).Create(Enc, g), nanAtCall: 7);   // 2 micro-batches per step: step 4
        var trainer = new Trainer(method, Synthetic(), Config(6), dir, "fingerprint-1");
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.Run());
        Assert.Equal(4, e.Step);
        Assert.Equal("reconstruction", e.Term);
        Assert.Contains("step 4: the reconstruction loss is NaN", e.Message);
        using var opt = Optimizer(method.Module);
        Assert.Equal(2, Checkpoint.Load(trainer.CheckpointPath, method.Module, opt, g, "can", "fingerprint-1").Step);
    }

    [Fact]
    public void LoaderOrderIsSeededAndCoversEveryImageOncePerEpoch()
    {
        var a = BatchLoader.Order(100, 5, 3);
        Assert.Equal(a, BatchLoader.Order(100, 5, 3));
        Assert.NotEqual(a, BatchLoader.Order(100, 5, 4));
        Assert.Equal(Enumerable.Range(0, 100), a.OrderBy(i => i));
        using var loader = new BatchLoader(Synthetic(48), 16, 5, new DataPosition(0, 1));
        var (img, next) = loader.Next();
        using (img) Assert.Equal(new long[] { 16, 3, 16, 16 }, img.shape);
        Assert.Equal(new DataPosition(0, 2), next);
        var (img2, next2) = loader.Next();
        img2.Dispose();
        Assert.Equal(new DataPosition(1, 0), next2);
    }

    [Fact]
    public void ShardsOfAGlobalBatchTileIt()
    {
        var set = Synthetic(48);
        using var whole = new BatchLoader(set, 16, 5, new DataPosition(0, 0));
        using var first = new BatchLoader(set, 16, 5, new DataPosition(0, 0), rank: 0, worldSize: 2);
        using var second = new BatchLoader(set, 16, 5, new DataPosition(0, 0), rank: 1, worldSize: 2);
        var (all, _) = whole.Next();
        var (a, _) = first.Next();
        var (b, _) = second.Next();
        using (all) using (a) using (b)
        using (var joined = cat([a, b], 0))
            Assert.Equal(Bytes(all), Bytes(joined));
    }

    [Fact]
    public void ABatchThatDoesNotSplitOverTheProcessesIsRefusedNamingTheField()
    {
        var spec = new RunSpec("can", "paper", "fashion-mnist", null, Width: 32, Depth: 1, Heads: 2, PatchSize: 4, BatchSize: 16, Steps: 2,
                               LearningRate: 1e-3, Seed: 1, TrainSubset: 48);
        spec.ValidateFor(worldSize: 4);
        var e = Assert.Throws<ArgumentException>(() => spec.ValidateFor(worldSize: 3));
        Assert.Equal("BatchSize: 16 images do not split evenly over 3 processes (each takes batch / processes)", e.Message.Split(" (Parameter")[0]);
    }
}
