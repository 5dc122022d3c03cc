using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Evaluation;
using CanKit.Methods;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The ablation suite on synthetic CIFAR-10 files with a ViT 16 × 1: a suite stopped in the middle of a run continues
/// where it stopped and ends with exactly the scores of a suite that was never stopped; a folder holding another
/// configuration is refused by name.
/// </summary>
public sealed class AblationRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-ablate-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly AblationTable Table = new("tiny", "two rows", [AblationTables.CanComponents.Rows[0], AblationTables.CanComponents.Rows[3]],
        [new AblationClaim("1a", "contrastive + MAE beats MAE", "test", "can-no-noise", "mae")], "none", BudgetStudy: true);

    private AblationSettings Settings(string root) => new()
    {
        Dataset = "cifar10", DataRoot = root, Width = 16, Depth = 1, Heads = 2, PatchSize = 8, Batch = 8, Steps = 8, TrainSubset = 0,
        EvalSubset = 0, ProbeEpochs = 2, K = 3, Seeds = 2, DecoderWidth = 16, DecoderDepth = 1,
    };

    /// <summary>Calls back on the trainer's own thread, so the test can cancel at an exact step.</summary>
    private sealed class AtStep(Action<StepMetrics> act) : IProgress<StepMetrics>
    {
        public void Report(StepMetrics value) => act(value);
    }

    [Fact]
    public void AStoppedSuiteResumesAndEndsWithTheUninterruptedScores()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        var settings = Settings(root);
        var straight = new AblationRunner(settings, Path.Combine(_dir, "straight"), CPU).Run([Table]);
        // 2 rows × 2 seeds; the budget-study table probes steps 2, 4 and 8 of each; and the raw pixels once per seed.
        Assert.Equal(12 + 2, straight.Count);
        Assert.Equal([2L, 4, 8], straight.Where(r => r.Row == "mae" && r.Seed == 0).Select(r => r.Step));

        // Stop the third run (seed 1, "mae") once its step-4 checkpoint is written: the suite throws, the first two runs
        // have their results, the third its checkpoint at step 4 and no result.
        string stopped = Path.Combine(_dir, "stopped");
        using var cts = new CancellationTokenSource();
        int runsStarted = 0;
        var log = new List<string>();
        var runner = new AblationRunner(settings, stopped, CPU, log.Add)
        {
            StepProgress = new AtStep(m => { if (m.Step == 2) runsStarted++; if (runsStarted == 3 && m.Step == 4) cts.Cancel(); }),
        };
        Assert.ThrowsAny<OperationCanceledException>(() => runner.Run([Table], cts.Token));
        string third = runner.RunDir("mae", 1);
        Assert.True(File.Exists(Path.Combine(runner.RunDir("can-no-noise", 0), AblationRunner.ResultFile)));
        Assert.False(File.Exists(Path.Combine(third, AblationRunner.ResultFile)));
        Assert.Equal("4", IO.SafeTensors.ReadHeader(Path.Combine(third, Trainer.CheckpointFile)).Metadata["step"]);

        log.Clear();
        var resumed = new AblationRunner(settings, stopped, CPU, log.Add).Run([Table]);
        Assert.Equal(2 + 2, log.Count(l => l.Contains("reused")));   // two runs and both seeds' pixel rows
        // The resumed run trained steps 5–8 only (its metrics hold each logged step once), and every score equals the
        // uninterrupted suite's: resuming on the CPU is exact (weights, AdamW state, generator and data position).
        Assert.Equal([2L, 4, 6, 8], File.ReadLines(Path.Combine(third, "metrics.csv")).Skip(1).Select(l => long.Parse(l.Split(',')[0])));
        Assert.Equal(straight.Select(r => (r.Row, r.Seed, r.Step, r.Probe, r.Knn)), resumed.Select(r => (r.Row, r.Seed, r.Step, r.Probe, r.Knn)));
    }

    [Fact]
    public void AFolderOfAnotherConfigurationIsRefusedByName()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string outDir = Path.Combine(_dir, "suite");
        var settings = Settings(root) with { Steps = 2, Seeds = 2, BudgetStudy = false };
        new AblationRunner(settings, outDir, CPU).Run([Table]);
        // Another probe length: every run folder would be reused for a different evaluation; the first is named.
        var other = new AblationRunner(settings with { ProbeEpochs = 3 }, outDir, CPU);
        var e = Assert.Throws<InvalidDataException>(() => other.Run([Table]));
        Assert.Contains(other.RunDir("mae", 0), e.Message);
        Assert.Contains("\"ProbeEpochs\": 2", e.Message);
        Assert.Contains("\"ProbeEpochs\": 3", e.Message);
        // Another precision (what --precision auto gives on a CPU with or without native bf16) is another configuration.
        var bf16 = new AblationRunner(settings with { Precision = Vision.Precision.BFloat16 }, outDir, CPU);
        var eb = Assert.Throws<InvalidDataException>(() => bf16.Run([Table]));
        Assert.Contains("\"Bf16\": false", eb.Message);
        Assert.Contains("\"Bf16\": true", eb.Message);
        // A folder with files but no stored configuration is not taken over either.
        string stray = other.RunDir("can-no-noise", 5);
        Directory.CreateDirectory(stray);
        File.WriteAllText(Path.Combine(stray, "notes.txt"), "mine");
        var e2 = Assert.Throws<InvalidDataException>(() => new AblationRunner(settings with { Seeds = 6 }, outDir, CPU).Run([Table]));
        Assert.Contains(stray, e2.Message);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(stray, "notes.txt")));
    }

    [Fact]
    public void EverySuiteScoresTheRawPixelsUnderItsOwnEvaluation()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        var settings = Settings(root) with { Steps = 2, BudgetStudy = false };
        var results = new AblationRunner(settings, Path.Combine(_dir, "suite"), CPU).Run([Table]);
        var pixels = results.Where(r => r.Row == AblationRunner.PixelsRow).ToList();
        Assert.Equal([0, 1], pixels.Select(r => r.Seed));
        foreach (var r in pixels)
        {
            // The same images, probe epochs, k and probe seed as the seed's trained runs: equal to the direct evaluation.
            var direct = RunEvaluation.EvaluatePixels(settings.Spec(Table.Rows[0], r.Seed), k: settings.K, probeEpochs: settings.ProbeEpochs,
                                                      evalSubset: settings.EvalSubset);
            Assert.Equal((0L, direct.ProbeTop1, direct.KnnTop1), (r.Step, r.Probe, r.Knn));
        }
        var row = AblationReport.PixelsRow(Table, results, settings.Steps);
        Assert.Equal((settings.Steps, 2, pixels.Average(r => r.Knn)), (row.Steps, row.Knn.Count, row.Knn.Mean));

        // A row named like the baseline is refused before anything runs.
        var clash = new AblationTable("clash", "", [AblationTables.CanComponents.Rows[0] with { Name = AblationRunner.PixelsRow }], [], "");
        var e = Assert.Throws<ArgumentException>(() => new AblationRunner(settings, Path.Combine(_dir, "clash"), CPU).Run([clash]));
        Assert.Contains("raw-pixel row", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "clash")));
    }

    [Fact]
    public void TheMarkdownShowsThePixelRowAndTheRowsAboveIt()
    {
        static SeedSummary S(double m) => SeedSummary.Of([m - 0.01, m + 0.01]);
        AblationRow R(string name, double probe, double knn) => new("tiny", name, 8, S(probe), S(knn), name == AblationRunner.PixelsRow ? 0 : 1, 0.1);
        var rows = new[] { R(AblationRunner.PixelsRow, 0.30, 0.30), R("mae", 0.40, 0.25), R("can-no-noise", 0.40, 0.35) };
        // The claims are judged on the trained rows only; the pixel row is a baseline, not a claim's row.
        string md = AblationReport.Markdown(Table, rows);
        Assert.Contains("| raw pixels (no training) | 30.0 ± 1.4 [", md);
        Assert.Contains("Above the raw pixels on both means: can-no-noise.", md);   // mae's 20-NN is below
        Assert.Contains("Above the raw pixels on both means: every row.", AblationReport.Markdown(Table with { Claims = [] }, [rows[0], rows[2]]));
    }

    [Fact]
    public void ARowChangedButKeepingARegisteredNameIsRefusedBeforeAnythingTrains()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string outDir = Path.Combine(_dir, "suite");
        var settings = Settings(root) with { Steps = 2, Seeds = 2, BudgetStudy = false };
        var runner = new AblationRunner(settings, outDir, CPU);
        // Every registered table's rows are what their names rebuild (the committed tables were trained that way).
        runner.CheckRows(AblationTables.All);
        // A row changed in a notebook that keeps the name "can" would train the registered CAN: refused, by name and setting.
        var can = AblationTables.CanComponents.Rows.Single(r => r.Name == "can");
        var changed = new AblationTable("mine", "changed", [can with { Can = can.Can! with { MaskRatio = 0.3 } }], [], "");
        var e = Assert.Throws<ArgumentException>(() => runner.Run([changed]));
        Assert.Contains("table 'mine', row 'can'", e.Message);
        Assert.Contains("\"MaskRatio\": 0.3", e.Message);
        Assert.Contains("\"MaskRatio\": 0.5", e.Message);
        // A name that no table registers cannot be rebuilt by a resumed run either.
        var unknown = new AblationTable("mine", "unknown", [can with { Name = "can-mask-0.3" }], [], "");
        var e2 = Assert.Throws<ArgumentException>(() => runner.Run([unknown]));
        Assert.Contains("row 'can-mask-0.3': not a registered row", e2.Message);
        Assert.False(Directory.Exists(outDir));
    }
}
