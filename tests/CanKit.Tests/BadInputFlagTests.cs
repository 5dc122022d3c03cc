using CliPolicy = CanKit.Cli.Cli;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Bad flags, on every command: each is refused before anything is read or written, with one error line that names the
/// flag, and exit code 2. Values that used to pass silently (NaN, negative subsets, zero epochs) are among them.
/// </summary>
[Collection("console")]
public sealed class BadInputFlagTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-badflag-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Asserts one error line containing <paramref name="message"/>, exit code <paramref name="code"/>, no stack trace.</summary>
    internal static void AssertOneLineError((int Code, string Out, string Err) r, int code, string message)
    {
        Assert.True(r.Code == code, $"exit {r.Code}, expected {code}: {r.Err}");
        Assert.Contains(message, r.Err);
        Assert.Single(r.Err.Trim().Split('\n'));
        Assert.StartsWith("error: ", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Theory]
    [InlineData("pretrain", "--epochs", "-1", "--epochs: must be a finite number > 0, got -1")]
    [InlineData("pretrain", "--epochs", "0", "--epochs: must be a finite number > 0, got 0")]
    [InlineData("pretrain", "--epochs", "NaN", "--epochs: must be a finite number > 0, got NaN")]
    [InlineData("pretrain", "--minutes", "NaN", "--minutes: must be a finite number > 0, got NaN")]
    [InlineData("pretrain", "--minutes", "-5", "--minutes: must be a finite number > 0, got -5")]
    [InlineData("pretrain", "--lr", "NaN", "--lr: must be a finite number > 0, got NaN")]
    [InlineData("pretrain", "--lr", "Infinity", "--lr: must be a finite number > 0, got ")]
    [InlineData("pretrain", "--train-subset", "-1", "--train-subset: must be ≥ 0 (0: all images), got -1")]
    [InlineData("pretrain", "--batch", "0", "--batch: must be > 0, got 0")]
    [InlineData("pretrain", "--width", "100000", "--width: must be ≤ 8192, got 100000")]
    [InlineData("pretrain", "--method", "", "--method: missing")]
    [InlineData("pretrain", "--width", "8192", "--width: 8192 with --depth 4 makes an encoder of ~3.2E+09 weights, more than 2e9")]
    [InlineData("pretrain", "--steps", "abc", "'abc' for option '--steps'")]
    [InlineData("probe", "--epochs", "0", "--epochs: must be ≥ 1, got 0")]
    [InlineData("probe", "--k", "0", "--k: must be ≥ 1, got 0")]
    [InlineData("probe", "--temperature", "0", "--temperature: must be a finite number > 0, got 0")]
    [InlineData("knn", "--temperature", "NaN", "--temperature: must be a finite number > 0, got NaN")]
    [InlineData("finetune", "--subset", "-1", "--subset: must be ≥ 0, got -1")]
    [InlineData("finetune", "--epochs", "0", "--epochs: must be ≥ 1, got 0")]
    [InlineData("ablate", "--train-subset", "-1", "--train-subset: must be ≥ 0 (0: all images), got -1")]
    [InlineData("ablate", "--probe-epochs", "0", "--probe-epochs: must be ≥ 1, got 0")]
    [InlineData("ablate", "--steps", "0", "--steps: must be > 0, got 0")]
    [InlineData("ablate", "--seeds", "1", "--seeds: must be ≥ 2 (a 95 % interval needs two runs), got 1")]
    [InlineData("ablate", "--eval-subset", "-1", "--eval-subset: must be ≥ 0 (0: all images), got -1")]
    [InlineData("ablate", "--decoder-width", "30", "--decoder-width: must be a multiple of 4 (the 2-D sin-cos position embedding), got 30")]
    [InlineData("ablate", "--table", "nonsense", "--table: unknown table nonsense (expected all or can-components, ")]
    [InlineData("ablate", "--precision", "fp16", "--precision: unknown precision 'fp16' (expected auto, fp32 or bf16)")]
    [InlineData("ablate", "--width", "31", "--heads: 2 does not divide --width 31")]
    [InlineData("main", "--steps", "0", "--steps: must be ≥ 1, got 0")]
    [InlineData("main", "--holdout", "-1", "--holdout: must be ≥ 0, got -1")]
    [InlineData("pretrain", "--mask-ratio", "1.5", "--mask-ratio: must be in [0, 1)")]
    [InlineData("pretrain", "--sigma-max", "-0.1", "--sigma-max: must be ≥ 0")]
    [InlineData("pretrain", "--crop-min", "0", "--crop-min: must be in (0, 1]")]
    [InlineData("pretrain", "--blur", "2", "--blur: must be a probability in [0, 1]")]
    [InlineData("pretrain", "--tau", "0", "--tau: must be > 0")]
    [InlineData("pretrain", "--weights", "0.1,0.2", "--weights: expected three numbers contrastive,reconstruction,denoise")]
    [InlineData("pretrain", "--weights", "1,-1,0", "--weights: must be finite and ≥ 0")]
    [InlineData("pretrain", "--weight-decay", "-1", "--weight-decay: must be a finite number ≥ 0, got -1")]
    [InlineData("pretrain", "--clip-norm", "NaN", "--clip-norm: must be a finite number ≥ 0, got NaN")]
    [InlineData("pretrain", "--holdout", "-5", "--holdout: must be ≥ 0, got -5")]
    [InlineData("pretrain", "--monitor-every", "-1", "--monitor-every: must be ≥ 0, got -1")]
    [InlineData("probe", "--pixels", "--random-init", "--random-init and --pixels: give one of them")]
    [InlineData("probe", "--blocks", "0", "--blocks: must be ≥ 1, got 0")]
    [InlineData("losses", "--count", "0", "--count: must be ≥ 1, got 0")]
    public void RunFlagsOutOfRangeAreNamedAndNothingIsWritten(string command, string flag, string value, string message)
    {
        string run = Path.Combine(_dir, "run");
        // An empty --data-root: a value that wrongly passed would fail fast on the missing data, not train for minutes.
        string[] data = command is "pretrain" or "ablate" ? ["--data-root", _dir] : [];
        AssertOneLineError(CliRunner.Run([command, flag, value, "--out", run, .. data]), 2, message);
        Assert.False(Directory.Exists(run));
    }

    [Theory]
    [InlineData("--side", "3000", "--side: must be in 1..1024, got 3000")]
    [InlineData("--side", "0", "--side: must be in 1..1024, got 0")]
    public void DataCacheSideIsBounded(string flag, string value, string message)
    {
        AssertOneLineError(CliRunner.Run("data", "cache", _dir, flag, value), 2, message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Theory]
    [InlineData("--url", "notaurl", "--url: must be an absolute http:// or https:// URL, got 'notaurl'")]
    [InlineData("--url", "ftp://example.org/x.tar.gz", "--url: must be an absolute http:// or https:// URL")]
    [InlineData("--stall-timeout", "NaN", "--stall-timeout: must be a finite number > 0, got NaN")]
    [InlineData("--cache-side", "5000", "--cache-side: must be in 1..1024, got 5000")]
    public void DataFetchFlagsAreCheckedBeforeAnyDownload(string flag, string value, string message)
    {
        string root = Path.Combine(_dir, "data");
        AssertOneLineError(CliRunner.Run("data", "fetch", "cifar10", "--root", root, flag, value), 2, message);
        Assert.False(Directory.Exists(root));
    }

    [Theory]
    [InlineData("pretrain")]
    [InlineData("ablate")]
    [InlineData("main")]
    public void AnOutputFolderThatIsAFileIsRefusedAndKept(string command)
    {
        string file = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(file, "keep me");
        AssertOneLineError(CliRunner.Run(command, "--out", file), 2, $"--out: is a file; expected a folder, got '{file}'");
        Assert.Equal("keep me", File.ReadAllText(file));
    }

    [Theory]
    [InlineData("pretrain")]
    [InlineData("ablate")]
    [InlineData("main")]
    public void ATensorBoardFolderThatIsAFileIsRefusedAndNothingIsWritten(string command)
    {
        string file = Path.Combine(_dir, "events.txt"), run = Path.Combine(_dir, "run");
        File.WriteAllText(file, "keep me");
        AssertOneLineError(CliRunner.Run(command, "--tensorboard", file, "--out", run), 2,
                           $"--tensorboard: is a file; expected a folder, got '{file}'");
        Assert.Equal("keep me", File.ReadAllText(file));
        Assert.Equal([file], Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void ARefusedRunWritesNothingSoTheCorrectedCommandRuns()
    {
        // --patch 5 passes the flag ranges but does not divide CIFAR's 32 px: known only once the data is loaded,
        // and still before run.json is written (which would make the corrected command "a different run").
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string run = Path.Combine(_dir, "run");
        var args = SyntheticData.TinyPretrainArgs(root, run, steps: 1);
        var bad = (string[])args.Clone();
        bad[Array.IndexOf(bad, "--patch") + 1] = "5";
        AssertOneLineError(CliRunner.Run(bad), 2, "--patch: 5 does not divide the 32×32 images of CIFAR-10");
        Assert.False(File.Exists(Path.Combine(run, "run.json")));
        var tooBig = (string[])args.Clone();
        tooBig[Array.IndexOf(tooBig, "--batch") + 1] = "64";
        AssertOneLineError(CliRunner.Run(tooBig), 2, "--batch: 64 is more than the 40 training images of CIFAR-10");
        Assert.False(File.Exists(Path.Combine(run, "run.json")));
        var ok = CliRunner.Run(args);
        Assert.True(ok.Code == 0, ok.Err);
        Assert.True(File.Exists(Path.Combine(run, "checkpoint.safetensors")));
    }

    [Fact]
    public void KnnWithMoreNeighboursThanImagesIsRefusedNotRelabelled()
    {
        string run = SyntheticData.TrainedRun(_dir);
        // 40 training images: k = 100000 used to be clamped to 40 and reported as "100000-NN".
        AssertOneLineError(CliRunner.Run("knn", "--out", run, "--k", "100000"), 2, "--k: k = 100000 is more than the 40 training images");
        var r = CliRunner.Run("knn", "--out", run, "--k", "40");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("pretrained 40-NN top-1:", r.Out);
    }

    [Fact]
    public void FlagsThatOnlyTheDataShowWrongAreNamedToo()
    {
        string run = SyntheticData.TrainedRun(_dir);
        // 3 images cannot fill one fine-tuning batch; 1e300 epochs of 40 images are beyond any run (a cast to long wrapped).
        AssertOneLineError(CliRunner.Run("finetune", "--out", run, "--subset", "3"), 2,
                           "--subset: 3 training images are fewer than one fine-tuning batch of 128");
        var args = SyntheticData.TinyPretrainArgs(Path.Combine(_dir, "cifar10"), Path.Combine(_dir, "long"), 1).Concat(["--epochs", "1e300"]).ToArray();
        AssertOneLineError(CliRunner.Run(args), 2, "--epochs: gives 2.5E+300 steps, more than 1e12");
        Assert.False(Directory.Exists(Path.Combine(_dir, "long")));
        // The parser's own multi-line messages are joined into one line.
        AssertOneLineError(CliRunner.Run("data", "fetch", "nosuch"), 2, "Argument 'nosuch' not recognized. Must be one of: 'cifar10' 'cifar100'");
    }

    [Fact]
    public void AnUnexpectedErrorIsOneLineAndItsStackTraceNeedsVerbose()
    {
        static Exception Thrown()
        {
            try { throw new InvalidOperationException("boom\nsecond line"); }
            catch (InvalidOperationException e) { return e; }
        }
        var (oldErr, verbose) = (Console.Error, CliPolicy.Verbose);
        try
        {
            foreach (bool v in new[] { false, true })
            {
                var err = new StringWriter();
                Console.SetError(err);
                CliPolicy.Verbose = v;
                Assert.Equal(CliPolicy.InternalError, CliPolicy.Report(Thrown()));
                var lines = err.ToString().Trim().Split('\n');
                Assert.Equal("error: internal error: InvalidOperationException: boom" +
                             (v ? "" : " (a bug in cankit; run again with --verbose for the stack trace)"), lines[0].TrimEnd());
                if (v) Assert.Contains(lines, l => l.Contains("   at ") && l.Contains(nameof(AnUnexpectedErrorIsOneLineAndItsStackTraceNeedsVerbose)));
                else Assert.Single(lines);
            }
        }
        finally
        {
            Console.SetError(oldErr);
            CliPolicy.Verbose = verbose;
        }
        // Every command accepts --verbose; expected errors stay one line with it.
        AssertOneLineError(CliRunner.Run("pretrain", "--verbose", "--lr", "NaN", "--out", Path.Combine(_dir, "run")), 2, "--lr: must be a finite number > 0");
    }
}
