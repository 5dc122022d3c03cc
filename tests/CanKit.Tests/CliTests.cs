using CanKit.Cli;
using CanKit.Cli.Bench;
using Xunit;

namespace CanKit.Tests;

/// <summary>The command line: help everywhere, and errors that name the bad flag or file. Runs alone (it redirects the console).</summary>
[Collection("console")]
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        Console.SetOut(o);
        Console.SetError(e);
        try
        {
            return (Program.Main(args), o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Theory]
    [InlineData("pretrain")]
    [InlineData("probe")]
    [InlineData("knn")]
    [InlineData("export")]
    [InlineData("ablate")]
    [InlineData("main")]
    public void EveryCommandHasHelp(string command)
    {
        var (code, output, _) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        Assert.Contains("--", output);
    }

    [Theory]
    [InlineData("--method", "nope", "--method: unknown method 'nope'")]
    [InlineData("--data", "mnist-digits", "--data: unknown dataset 'mnist-digits'")]
    [InlineData("--preset", "best", "--preset: unknown preset 'best'")]
    [InlineData("--heads", "3", "--heads: 3 does not divide --width 128")]
    [InlineData("--steps", "0", "--steps: must be > 0")]
    [InlineData("--data-root", "/no/such/folder", "--data-root: folder '/no/such/folder' does not exist")]
    public void BadFlagsAreNamed(string flag, string value, string message)
    {
        var (code, _, err) = Run("pretrain", flag, value, "--out", Path.Combine(_dir, "run"));
        Assert.Equal(2, code);
        Assert.Contains(message, err);
    }

    [Fact]
    public void BenchSettingComparesOneSwitchAndRestoresIt()
    {
        bool before = Torch.FusedLayerNorm;
        var (code, output, err) = Run("bench", "setting", "FusedLayerNorm", "--pairs", "3", "--batch", "2");
        Assert.True(code == 0, err);
        Assert.Contains("FusedLayerNorm: on ", output);
        Assert.Matches(@"off / on, median of per-pair ratios: \d+\.\d{3} \(interquartile", output);
        Assert.Equal(before, Torch.FusedLayerNorm);
        var (badCode, _, badErr) = Run("bench", "setting", "FusedLayerNorm", "--pairs", "2");
        Assert.Equal(2, badCode);
        Assert.Contains("--pairs must be ≥ 3 (got 2)", badErr);
    }

    [Fact]
    public void BenchProfileScalingTimesEachPhaseAtOneAndAllThreads()
    {
        int threads = Torch.NumThreads;
        var (code, output, err) = Run("bench", "profile", "--scaling", "--steps", "3", "--batch", "2");
        Assert.Equal(threads, Torch.NumThreads);   // restored
        if (threads < 2)
        {
            Assert.Equal(1, code);
            Assert.Contains("--scaling needs more than one intra-op thread (this process has 1)", err);
            return;
        }
        Assert.True(code == 0, err);
        Assert.Contains($"| phase     | 1 thread (ms) | {threads} threads (ms) | speedup |", output);
        foreach (var phase in new[] { "forward", "backward", "optimizer", "step" })
            Assert.Matches($@"\| {phase} +\| +\d+\.\d \| +\d+\.\d \| +\d+\.\d\d× \|", output);
    }

    [Fact]
    public void BenchThreadsNamesAnUnknownEnvironment()
    {
        var (code, _, err) = Run("bench", "threads", "--env", "OMP=7");
        Assert.Equal(1, code);
        Assert.Contains("--env: no environment 'OMP=7'; known: 'env unset', 'OMP=1'", err);
        Assert.Contains("'CANKIT_BLAS=system'", err);
        (code, _, err) = Run("bench", "threads", "--step", "--with-pytorch");
        Assert.Equal(1, code);
        Assert.Contains("--step runs on CanKit workers only", err);
    }

    [Fact]
    public void BenchWorkersLoadTheBlasTheirEnvironmentChooses()
    {
        string? dir = NativeLibraryResolver.OpenMpBlasDirectory();
        bool installed = dir != null && File.Exists(Path.Combine(dir, "libblas.so.3"));
        string Blas(string? choice)
        {
            using var w = ChildWorker.CanKit($"CANKIT_BLAS={choice}", new Dictionary<string, string?> { ["CANKIT_BLAS"] = choice });
            return w.Info(1).Blas.Single(p => p.EndsWith("/libblas.so.3", StringComparison.Ordinal));
        }
        Assert.DoesNotContain("openblas-openmp", Blas("system"));
        if (installed) Assert.Equal(Path.Combine(dir!, "libblas.so.3"), Blas(null));
        using var bad = ChildWorker.CanKit("bad", new Dictionary<string, string?> { ["CANKIT_BLAS"] = "mkl" });
        var e = Assert.Throws<InvalidOperationException>(() => bad.Info(1));
        Assert.Contains("CANKIT_BLAS must be 'openmp' or 'system' (got 'mkl')", e.Message);
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        var (code, _, err) = Run("probe", "--out", Path.Combine(_dir, "nothing"));
        Assert.Equal(1, code);
        Assert.Contains("is not a CanKit run folder", err);
        (code, _, err) = Run("pretrain", "--data", "cifar10", "--data-root", _dir, "--out", Path.Combine(_dir, "c"));
        Assert.Equal(1, code);
        Assert.Contains("data_batch_1.bin", err);
        Assert.Contains("fetch-cifar", err);
        (code, _, err) = Run("pretrain", "--data-root", _dir, "--out", Path.Combine(_dir, "f"));
        Assert.Equal(1, code);
        Assert.Contains("train-images-idx3-ubyte", err);
    }

    [Fact]
    public void AblateListsItsSuite()
    {
        var (code, output, _) = Run("ablate", "--list");
        Assert.Equal(0, code);
        foreach (var name in new[] { "mae", "simclr", "masked-contrastive", "can-no-noise", "can-noise-as-aug", "can-no-sigma-embedding", "can", "cmae" })
            Assert.Contains(name, output);
        var (bad, _, err) = Run("ablate", "--only", "can", "nonsense");
        Assert.Equal(2, bad);
        Assert.Contains("--only: unknown entries nonsense", err);
    }
}

[CollectionDefinition("console", DisableParallelization = true)]
public class ConsoleCollection;
