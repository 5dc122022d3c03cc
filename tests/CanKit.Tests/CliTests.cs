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
    public void BenchCudaDryRunOnTheCpuReportsConsistentFigures()
    {
        // The GPU bench's code path without a GPU: the reference model, 2 images per view, a given peak.
        var (code, output, err) = Run("bench", "cuda", "--device", "cpu", "--model", "reference", "--batch", "2", "--rounds", "2", "--steps", "1",
            "--warmup", "1", "--no-pytorch", "--peak-tflops", "0.5");
        Assert.True(code == 0, err);
        Assert.Contains("CAN step on cpu (cpu): 32 px, patch 4, ViT 6×192×3, decoder 2×128×4, 2 images/view, 64 patches (32 visible), mask 0.5", output);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(output, @"round \d/2: CanKit \d+\.\d\d ms/step").Count);
        var row = System.Text.RegularExpressions.Regex.Match(output, @"\| CanKit +\| +(\d+\.\d\d) \| +(\d+\.\d) \| +(\d+\.\d\d) \| +(\d+\.\d) % \|");
        Assert.True(row.Success, output);
        double ms = double.Parse(row.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        double imagesPerSec = double.Parse(row.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        double tflops = double.Parse(row.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
        double mfu = double.Parse(row.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture);
        double flops = StepBench.Flops(StepBench.Encoder, StepBench.Decoder, 2, 0.5, withDecoder: true);
        Assert.Equal(2000.0 / ms, imagesPerSec, 0.051);
        Assert.Equal(flops / ms / 1e9, tflops, 0.0051);
        Assert.Equal(flops / ms / 1e9 / 0.5 * 100, mfu, 0.051);
        // The command computes in bf16 where the processor has native bf16 (avx512_bf16 / AMX), fp32 elsewhere.
        string precision = Torch.CpuHasBf16 ? "bf16" : "fp32";
        Assert.Contains($"MFU against a 0.5 TFLOP/s dense {precision} peak (given)", output);
    }

    [Fact]
    public void BenchCudaRunsThePyTorchContenderOrSaysWhyNot()
    {
        var (code, output, err) = Run("bench", "cuda", "--device", "cpu", "--model", "reference", "--batch", "2", "--rounds", "1", "--steps", "1",
            "--warmup", "0", "--python", TorchStepWorker.DebianPython);
        if (!PythonHasTorch())
        {
            Assert.Equal(1, code);
            Assert.Contains($"the PyTorch worker ({TorchStepWorker.DebianPython}) did not start", err);
            return;
        }
        Assert.True(code == 0, err);
        Assert.Matches(@"PyTorch \d+\.\d+\S* eager \(/usr/bin/python3\)", output);
        Assert.Matches(@"round 1/1: CanKit \d+\.\d\d ms/step  PyTorch \d+\.\d\d ms/step", output);
        Assert.Matches(@"\| PyTorch eager +\| +\d+\.\d\d \| +\d+\.\d \| +\d+\.\d\d \| +— \|", output);
        Assert.Matches(@"CanKit / PyTorch throughput = \d+\.\d{3}×", output);
        Assert.Matches(@"PyTorch peak memory \d+ MB \(process RSS\)", output);
    }

    private static bool PythonHasTorch()
    {
        if (!File.Exists(TorchStepWorker.DebianPython)) return false;
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(TorchStepWorker.DebianPython, "-c \"import torch\"")
        {
            RedirectStandardError = true,
        })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    [Fact]
    public void BenchCudaNamesBadFlagsAndAMissingGpu()
    {
        var (code, _, err) = Run("bench", "cuda", "--device", "cpu", "--model", "vit-l");
        Assert.Equal(2, code);
        Assert.Contains("--model must be vit-b16 or reference (got 'vit-l')", err);
        (code, _, err) = Run("bench", "cuda", "--device", "cpu", "--batch", "1");
        Assert.Equal(2, code);
        Assert.Contains("--batch must be ≥ 2 (got 1)", err);
        (code, _, err) = Run("bench", "cuda", "--device", "cpu", "--model", "reference", "--python", Path.Combine(_dir, "no-python"));
        Assert.Equal(1, code);
        Assert.Contains($"cannot start {Path.Combine(_dir, "no-python")} for the PyTorch contender", err);
        // A python that fails at start: its last line of standard error is in the message.
        if (!OperatingSystem.IsWindows())
        {
            string failing = Path.Combine(_dir, "failing-python");
            File.WriteAllText(failing, "#!/bin/sh\necho 'ModuleNotFoundError: no torch here' >&2\nexit 3\n");
            File.SetUnixFileMode(failing, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            (code, _, err) = Run("bench", "cuda", "--device", "cpu", "--model", "reference", "--batch", "2", "--python", failing);
            Assert.Equal(1, code);
            Assert.Contains($"the PyTorch worker ({failing}) did not start (no output): ModuleNotFoundError: no torch here", err);
        }
        if (!Torch.CudaIsAvailable)
        {
            (code, _, err) = Run("bench", "cuda");
            Assert.Equal(2, code);
            Assert.Contains("--device cuda: CUDA is not available", err);
        }
    }

    [Theory]
    [InlineData("NVIDIA H200", 989.4)]
    [InlineData("NVIDIA H100 80GB HBM3", 989.4)]
    [InlineData("NVIDIA H100 PCIe", 756.0)]
    [InlineData("NVIDIA H100 NVL", 835.0)]
    [InlineData("NVIDIA A100-SXM4-80GB", 312.0)]
    [InlineData("Tesla T4", null)]
    public void BenchCudaKnowsTheBf16PeakOfCommonGpus(string name, double? peak) =>
        Assert.Equal(peak, CudaStepBench.KnownBf16PeakTflops(name));

    [Fact]
    public void StepFlopsCountEveryProductOfTheCanStep()
    {
        // ViT-B/16 CAN step, 3 images per view, mask 0.5, listed layer by layer: products of a forward pass × 3.
        var (enc, dec, _) = CudaStepBench.Model("vit-b16");
        double n = 6, l = 196, lv = 98, d = 768, dd = 512, p = 16 * 16 * 3;
        double Block(double tokens, double w) =>
            2 * tokens * w * 3 * w + 2 * tokens * w * w + 2 * tokens * w * 4 * w + 2 * tokens * 4 * w * w   // qkv, proj, fc1, fc2
            + 2 * 2 * tokens * tokens * w;                                                                   // q·kᵀ and P·v
        double forward = n * (2 * l * p * d                 // patch projection of every patch
                              + 12 * Block(lv, d)           // encoder on the visible tokens
                              + 2 * d * d + 2 * d * 128     // projection head
                              + 2 * lv * d * dd             // decoder embedding
                              + 8 * Block(l, dd)            // decoder on all tokens
                              + 2 * l * dd * p              // pixel head
                              + 2 * 2 * dd * dd);           // σ embedding MLP
        Assert.Equal(3 * forward, StepBench.Flops(enc, dec, 3, 0.5, withDecoder: true), 1e-9 * forward);
        // SimCLR: every token through the encoder, no decoder.
        double simclr = n * (2 * l * p * d + 12 * Block(l, d) + 2 * d * d + 2 * d * 128);
        Assert.Equal(3 * simclr, StepBench.Flops(enc, dec, 3, 0, withDecoder: false), 1e-9 * simclr);
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
