using System.Buffers.Binary;
using System.Text;
using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Training;
using Tensorboard;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// TensorBoard event files of a run (<see cref="TensorBoardLog"/>): real TFRecord files (length, masked CRC32C of the
/// length, an Event protobuf, masked CRC32C of the data) whose scalars are the run's metrics lines, step by step, with the
/// real wall time; CAN's reconstruction grid at the end; `pretrain --tensorboard` and the ablation suite's sub-folders.
/// </summary>
[Collection("console")]
public sealed class TrainerTensorBoardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-tensorboard-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Each tag's value, taken from a metrics line (written out here, not through TensorBoardLog.Scalars).
    private static readonly (string Tag, Func<StepMetrics, double> Value)[] Expected =
    [
        ("loss/total", m => m.Loss), ("loss/contrastive", m => m.Contrastive), ("loss/reconstruction", m => m.Reconstruction),
        ("loss/denoise", m => m.Denoise), ("train/contrastive_top1", m => m.ContrastiveTop1), ("train/lr", m => m.LearningRate),
        ("train/images_per_s", m => m.ImagesPerSecond), ("monitor/knn_top1", m => m.KnnTop1),
    ];

    [Fact]
    public void ARunWritesItsMetricsLinesAsScalarsInTfRecordsAndItsReconstructionGrid()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string run = Path.Combine(_dir, "run"), board = Path.Combine(_dir, "tb"), notAFolder = Path.Combine(_dir, "file");
        File.WriteAllText(notAFolder, "");
        Assert.Throws<IOException>(() => PretrainRun.Pretrain(SyntheticData.TinySpec(root, steps: 6), run, CPU, tensorBoard: notAFolder));
        Assert.False(Directory.Exists(run));                                  // refused before anything is written
        double start = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var outcome = PretrainRun.Pretrain(SyntheticData.TinySpec(root, steps: 6), run, CPU, checkpointEvery: 6, logEvery: 2,
                                           monitorEvery: 3, tensorBoard: board);
        double end = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.Equal(TrainOutcome.Completed, outcome);
        var logged = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal([2L, 3, 4, 6], logged.Select(m => m.Step));              // every 2nd step, and the monitor's 3 and 6
        Assert.Equal([false, true, false, true], logged.Select(m => m.HasKnn));

        string file = Assert.Single(Directory.GetFiles(board));               // the grid's temporary PNG is gone too
        Assert.StartsWith("events.out.tfevents.", Path.GetFileName(file));
        var events = ReadEvents(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        var scalars = Scalars(events);
        foreach (var (tag, value) in Expected)
        {
            var want = logged.Where(m => !double.IsNaN(value(m))).Select(m => (m.Step, (float)value(m))).ToList();
            Assert.True(want.Count > 0, tag);
            Assert.Equal(want, scalars.Where(s => s.Tag == tag).Select(s => (s.Step, s.Value)));
            Assert.Equal(want.Count, Occurrences(File.ReadAllBytes(file), tag));
        }
        Assert.Equal(logged.Count * 7 + 2, scalars.Count);                    // 7 tags per line, the monitor's twice, nothing else
        Assert.All(scalars, s => Assert.InRange(s.WallTime, start, end));

        // The reconstruction grid: the PNG RunExport.SaveReconstructions draws, at the last step.
        var image = Assert.Single(events.Where(e => e.Summary is not null).SelectMany(e => e.Summary.Value.Select(v => (e.Step, v)))
                                        .Where(x => x.v.ValueCase == Summary.Types.Value.ValueOneofCase.Image));
        Assert.Equal((6L, TensorBoardLog.ReconstructionTag), (image.Step, image.v.Tag));
        string png = Path.Combine(_dir, "grid.png");
        RunExport.SaveReconstructions(run, png);
        var (w, h) = PngSize(File.ReadAllBytes(png));
        Assert.Equal((w, h), PngSize(image.v.Image.EncodedImageString.ToByteArray()));
        Assert.Equal((w, h), (image.v.Image.Width, image.v.Image.Height));
    }

    [Fact]
    public void PretrainWithTheFlagWritesTheRunsScalarsAndNoGridForMae()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string run = Path.Combine(_dir, "run"), board = Path.Combine(_dir, "tb");
        var r = CliRunner.Run([.. SyntheticData.TinyPretrainArgs(root, run, steps: 3), "--method", "mae", "--tensorboard", board]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains($"tensorboard --logdir {board}", r.Out);
        var logged = MetricsLog.Read(Path.Combine(run, "metrics.jsonl"));
        Assert.Equal([3L], logged.Select(m => m.Step));                      // the CLI logs every 10th step and the last
        var events = ReadEvents(Assert.Single(Directory.GetFiles(board, "events.out.tfevents.*")));
        Assert.Equal(1 + 7, events.Count);                                    // the file version, then one scalar per event
        var scalars = Scalars(events);
        Assert.Equal(Expected[..7].Select(e => (e.Tag, 3L, (float)e.Value(logged[0]))), scalars.Select(s => (s.Tag, s.Step, s.Value)));
    }

    [Fact]
    public void EachRunOfAnAblationSuiteWritesToASubFolderNamedAfterItsRunFolder()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        var row = AblationTables.CanComponents.Rows[0];
        var table = new AblationTable("tiny", "one row", [row], [], "none", BudgetStudy: false);
        var settings = new AblationSettings
        {
            Dataset = "cifar10", DataRoot = root, Width = 16, Depth = 1, Heads = 2, PatchSize = 8, Batch = 8, Steps = 4, TrainSubset = 0,
            EvalSubset = 0, ProbeEpochs = 1, K = 3, Seeds = 2, DecoderWidth = 16, DecoderDepth = 1,
        };
        string board = Path.Combine(_dir, "tb");
        var runner = new AblationRunner(settings, Path.Combine(_dir, "suite"), CPU) { TensorBoard = board };
        runner.Run([table]);
        Assert.Equal([row.Name], Directory.GetDirectories(board).Select(Path.GetFileName));
        for (int seed = 0; seed < 2; seed++)
        {
            Assert.Equal(Path.Combine(board, row.Name, $"seed-{seed}"), runner.TensorBoardDir(row.Name, seed));
            var logged = MetricsLog.Read(Path.Combine(runner.RunDir(row.Name, seed), "metrics.jsonl"));
            var scalars = Scalars(ReadEvents(Assert.Single(Directory.GetFiles(runner.TensorBoardDir(row.Name, seed)!))));
            Assert.Equal(logged.Select(m => (m.Step, (float)m.Loss)),
                         scalars.Where(s => s.Tag == "loss/total").Select(s => (s.Step, s.Value)));
        }
    }

    private static List<(string Tag, long Step, float Value, double WallTime)> Scalars(List<Event> events) =>
        events.Where(e => e.Summary is not null)
              .SelectMany(e => e.Summary.Value.Where(v => v.ValueCase == Summary.Types.Value.ValueOneofCase.SimpleValue)
                                              .Select(v => (v.Tag, e.Step, v.SimpleValue, e.WallTime)))
              .ToList();

    private static int Occurrences(byte[] bytes, string text)
    {
        byte[] needle = Encoding.UTF8.GetBytes(text);
        return Enumerable.Range(0, bytes.Length - needle.Length + 1).Count(i => bytes.AsSpan(i, needle.Length).SequenceEqual(needle));
    }

    // A PNG's width and height from its IHDR chunk.
    private static (int W, int H) PngSize(byte[] png)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    /// <summary>
    /// The records of a TFRecord file, each checked: u64 length (little-endian), u32 masked CRC32C of those 8 bytes, the
    /// data, u32 masked CRC32C of the data; the file ends exactly after the last record. Each record parsed as an Event.
    /// </summary>
    private static List<Event> ReadEvents(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        int at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 16, $"{path}: a record cut short at byte {at}");
            long length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(Masked(Crc32C(bytes.AsSpan(at, 8))), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            Assert.InRange(length, 1, bytes.Length - at - 16);
            var data = bytes.AsSpan(at + 12, (int)length);
            Assert.Equal(Masked(Crc32C(data)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)));
            events.Add(Event.Parser.ParseFrom(data.ToArray()));
            at += 16 + (int)length;
        }
        Assert.True(events.Count > 1, $"{path}: {events.Count} records");
        return events;
    }

    private static uint Masked(uint crc) => ((crc >> 15) | (crc << 17)) + 0xa282ead8u;

    // CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }
}
