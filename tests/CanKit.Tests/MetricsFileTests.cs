using System.Text;
using System.Text.Json;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// metrics.jsonl and metrics.csv are plain UTF-8 without a byte-order mark (Python's json.loads and csv.DictReader read
/// them as they are); files of older versions, which begin with one, still read and resume.
/// </summary>
public sealed class MetricsFileTests : IDisposable
{
    private static readonly byte[] Bom = [0xEF, 0xBB, 0xBF];
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-metrics-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheFilesHaveNoByteOrderMarkAndTheirFirstLinesParse()
    {
        string run = SyntheticData.TrainedRun(_dir, steps: 2);
        foreach (string name in new[] { "metrics.jsonl", "metrics.csv" })
            Assert.False(File.ReadAllBytes(Path.Combine(run, name)).AsSpan().StartsWith(Bom), $"{name} starts with a byte-order mark");
        // The raw bytes, decoded without BOM detection, as a reader that knows nothing of BOMs sees them.
        string[] jsonl = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(run, "metrics.jsonl"))).Split('\n');
        using (var first = JsonDocument.Parse(jsonl[0]))
        {
            Assert.Equal(1, first.RootElement.GetProperty("step").GetDouble());
            Assert.True(first.RootElement.GetProperty("loss").GetDouble() > 0);
        }
        string[] csv = Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(run, "metrics.csv"))).Split('\n');
        Assert.Equal("step", csv[0].Split(',')[0]);
        Assert.Equal(["1", "2"], csv.Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')[0]));
    }

    [Fact]
    public void FilesWithAByteOrderMarkFromAnOlderVersionReadAndResume()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        var spec = SyntheticData.TinySpec(root, steps: 4);
        string whole = Path.Combine(_dir, "whole");
        PretrainRun.Pretrain(spec, whole, CPU, checkpointEvery: 2, logEvery: 1);
        var reference = MetricsLog.Read(Path.Combine(whole, "metrics.jsonl"));

        // Stopped after step 2 with its checkpoint: resuming keeps every line, so the files are appended to as they are.
        string stopped = Path.Combine(_dir, "stopped");
        using (var cts = new CancellationTokenSource())
            Assert.Equal(TrainOutcome.Interrupted, PretrainRun.Pretrain(spec, stopped, CPU, new AtStep(m => { if (m.Step == 2) cts.Cancel(); }),
                                                                        cts.Token, checkpointEvery: 2, logEvery: 1));
        // Killed after logging step 3: resuming from step 2's checkpoint cuts line 3, rewriting the files.
        string crashed = Path.Combine(_dir, "crashed");
        var crash = new AtStep(m => { if (m.Step == 3) throw new IOException("simulated crash after logging step 3"); });
        Assert.Throws<IOException>(() => PretrainRun.Pretrain(spec, crashed, CPU, crash, checkpointEvery: 2, logEvery: 1));

        foreach (var (run, steps) in new[] { (stopped, new long[] { 1, 2 }), (crashed, [1, 2, 3]) })
        {
            foreach (string name in new[] { "metrics.jsonl", "metrics.csv" })       // what the older version wrote
                File.WriteAllBytes(Path.Combine(run, name), [.. Bom, .. File.ReadAllBytes(Path.Combine(run, name))]);
            Assert.Equal(steps, MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Select(m => m.Step));

            Assert.Equal(TrainOutcome.Completed, PretrainRun.Pretrain(spec, run, CPU, checkpointEvery: 2, logEvery: 1));
            var resumed = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
            Assert.Equal([1L, 2, 3, 4], resumed.Select(m => m.Step));
            Assert.Equal(reference.Select(m => (m.Loss, m.Contrastive, m.Reconstruction, m.Denoise)),
                         resumed.Select(m => (m.Loss, m.Contrastive, m.Reconstruction, m.Denoise)));
            var csv = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
            Assert.Equal("step", csv[0].Split(',')[0]);
            Assert.Equal(["1", "2", "3", "4"], csv.Skip(1).Select(l => l.Split(',')[0]));
            // At most the one mark the older version wrote, at the start; a rewritten file has none.
            foreach (string name in new[] { "metrics.jsonl", "metrics.csv" })
            {
                byte[] bytes = File.ReadAllBytes(Path.Combine(run, name));
                Assert.Equal(run == stopped ? [0] : [], Marks(bytes));
            }
        }
    }

    // The offsets of every byte-order mark in the file.
    private static List<int> Marks(byte[] bytes) =>
        Enumerable.Range(0, Math.Max(0, bytes.Length - 2)).Where(i => bytes.AsSpan(i, 3).SequenceEqual(Bom)).ToList();

    // Reports on the training thread, so a throw or a cancel lands at an exact step.
    private sealed class AtStep(Action<StepMetrics> act) : IProgress<StepMetrics>
    {
        public void Report(StepMetrics value) => act(value);
    }
}
