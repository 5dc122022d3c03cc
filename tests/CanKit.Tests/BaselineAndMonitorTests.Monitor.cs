using CanKit.Evaluation;
using CanKit.Methods;
using CanKit.Training;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

// The online kNN monitor: its bank and queries, what it measures, and a monitored run that trains as an unmonitored one.
public sealed partial class BaselineAndMonitorTests
{
    [Fact]
    public void TheMonitorBankAndQueriesAreDisjointTrainingImages()
    {
        var data = Random16(100);
        var m = KnnMonitor.FromTraining(data, bank: 80, queries: 30);
        Assert.Equal(30, m.QuerySize);
        Assert.Equal(70, m.BankSize);            // what the queries leave
        var small = KnnMonitor.FromTraining(Random16(10), bank: 5000, queries: 1000);
        Assert.Equal(5, small.QuerySize);
        Assert.Equal(5, small.BankSize);
    }

    [Fact]
    public void TheMonitorMeasuresTheKnnOfTheSameFeaturesAsTheEvaluation()
    {
        // A 1-NN monitor whose queries are copies of bank images with the same label scores 100 % for any injective encoder.
        var bank = Random16(20);
        var queries = bank.Take(8);
        using var g = new Generator(2);
        using var enc = new VisionTransformer(new VitConfig { ImageSize = 16, PatchSize = 4, Width = 32, Depth = 1, Heads = 2 }, g);
        Assert.Equal(1.0, new KnnMonitor(bank, queries, k: 1).Measure(enc, CPU));
        // And against the evaluation's own path: the same features, the same k-NN.
        var other = Random16(12, seed: 9);
        var (xb, yb) = Features.Extract(enc, bank, CPU);
        var (xq, yq) = Features.Extract(enc, other, CPU);
        using (xb) using (yb) using (xq) using (yq)
            Assert.Equal(KnnClassifier.Accuracy(xb, yb, xq, yq, 4, 5, 0.07), new KnnMonitor(bank, other, k: 5).Measure(enc, CPU));
    }

    [Fact]
    public void AMonitoredRunTrainsBitForBitAsAnUnmonitoredOneAndLogsItsSteps()
    {
        var enc = new VitConfig { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 1, Heads = 2 };
        var spec = new MethodSpec("can", MethodKind.Can,
                                  Can: new CanConfig { Decoder = new DecoderConfig { Width = 16, Depth = 1, Heads = 2 }, ProjectionDim = 16 });
        var config = new TrainConfig { BatchSize = 16, Steps = 5, LearningRate = 1e-3, CheckpointEvery = 100, LogEvery = 2, Seed = 42 };
        var data = Random16(48);
        var monitor = new KnnMonitor(data.Take(32), data.Skip(32), k: 3);
        var results = new List<(Dictionary<string, byte[]> Weights, List<StepMetrics> Log, double Final)>();
        foreach (bool monitored in new[] { false, true })
        {
            string dir = Path.Combine(_dir, monitored ? "monitored" : "plain");
            using var g = new Generator(7);
            using var method = spec.Create(enc, g);
            var log = new List<StepMetrics>();
            var trainer = new Trainer(method, data, config, dir, "fingerprint")
            {
                Monitor = monitored ? () => monitor.Measure(method.Encoder, CPU) : null,
                MonitorEvery = 3,
            };
            trainer.Run(new SyncProgress(log.Add));
            var weights = method.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().contiguous().bytes.ToArray());
            results.Add((weights, log, monitor.Measure(method.Encoder, CPU)));
        }
        var (plain, withMonitor) = (results[0], results[1]);
        Assert.Equal(plain.Weights.Keys, withMonitor.Weights.Keys);
        foreach (var key in plain.Weights.Keys) Assert.Equal(plain.Weights[key], withMonitor.Weights[key]);
        // Logged: every 2nd step, and the monitor's steps 3 and 5 (the end); measured only on those.
        Assert.Equal(new long[] { 2, 4, 5 }, plain.Log.Select(m => m.Step));
        Assert.Equal(new long[] { 2, 3, 4, 5 }, withMonitor.Log.Select(m => m.Step));
        Assert.Equal(new[] { false, true, false, true }, withMonitor.Log.Select(m => m.HasKnn));
        Assert.All(plain.Log, m => Assert.False(m.HasKnn));
        // The last measurement is of the trained encoder.
        Assert.Equal(withMonitor.Final, withMonitor.Log[^1].KnnTop1);
        var read = MetricsLog.Read(Path.Combine(_dir, "monitored", "metrics.jsonl"));
        Assert.Equal(withMonitor.Log.Select(m => m.KnnTop1), read.Select(m => m.KnnTop1));
        var csv = File.ReadAllLines(Path.Combine(_dir, "monitored", "metrics.csv"));
        Assert.EndsWith(",knn_top1", csv[0]);
        Assert.EndsWith(",", csv[1]);                                       // step 2: not measured, an empty cell
        Assert.EndsWith("," + withMonitor.Log[1].KnnTop1.ToString("R", System.Globalization.CultureInfo.InvariantCulture), csv[2]);
    }

    private sealed class SyncProgress(Action<StepMetrics> a) : IProgress<StepMetrics>
    {
        public void Report(StepMetrics value) => a(value);
    }
}
