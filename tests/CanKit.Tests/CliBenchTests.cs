using CanKit.Cli.Bench;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The bench command: the CAN step against plain TorchSharp and PyTorch, the GPU bench's dry run on the CPU, their flags
/// and the FLOPs they count. Runs alone (it redirects the console).
/// </summary>
[Collection("console")]
public sealed class CliBenchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void BenchStepComparesCanKitWithPlainTorchSharpAndPyTorchOrSaysWhyNot()
    {
        var (code, output, err) = Run("bench", "step", "--rounds", "1", "--steps", "1", "--batch", "2", "--python", TorchStepWorker.DebianPython);
        Assert.True(code == 0, err);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(output, @"round 1/1: .*CanKit CAN \d+\.\d ms .*TorchSharp CAN \d+\.\d ms"));
        bool torchThere = PythonHasTorch();
        if (!torchThere) Assert.Contains($"PyTorch contender skipped: the PyTorch worker ({TorchStepWorker.DebianPython}) did not start", output);
        // Each row's GFLOP/s is the analytic FLOPs of its step over its median time.
        double canFlops = StepBench.Flops(2, StepBench.Mask, withDecoder: true), simFlops = StepBench.Flops(2, 0, withDecoder: false);
        var rows = new List<(string Name, double Flops)> { (StepBench.CanKitCan, canFlops), (StepBench.PlainCan, canFlops),
                                                           (StepBench.CanKitSimClr, simFlops) };
        if (torchThere) rows.Add((StepBench.TorchCan, canFlops));
        foreach (var (name, flops) in rows)
        {
            var row = System.Text.RegularExpressions.Regex.Match(output, $@"\| {name} +\| +(\d+\.\d) \| +(\d+\.\d) \| +\d+ % \|");
            Assert.True(row.Success, name + "\n" + output);
            double ms = double.Parse(row.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            double gflops = double.Parse(row.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
            // Both figures are printed rounded to 0.05: the quotient of the rounded ms is off by at most that relative error.
            Assert.Equal(flops / ms / 1e6, gflops, 0.051 + flops / ms / 1e6 * 0.05 / ms);
        }
        Assert.Matches(@"CanKit / plain TorchSharp \(CAN step time\) = \d+\.\d{3}", output);
        Assert.Matches(@"CAN / SimCLR \(step time\) = \d+\.\d{3}", output);
        if (torchThere) Assert.Matches(@"CanKit / PyTorch eager \(CAN step time\) = \d+\.\d{3}", output);
        else Assert.DoesNotContain("CanKit / PyTorch", output);
    }

    [Fact]
    public void BenchStepNamesBadFlags()
    {
        foreach (var (flag, value, message) in new[] { ("--batch", "1", "--batch must be ≥ 2 (got 1)"),
                                                       ("--rounds", "0", "--rounds must be ≥ 1 (got 0)"),
                                                       ("--steps", "0", "--steps must be ≥ 1 (got 0)") })
        {
            var (code, _, err) = Run("bench", "step", flag, value, "--no-pytorch");
            Assert.Equal(2, code);
            Assert.Contains(message, err);
        }
    }

    [Fact]
    public void PlainTorchSharpStepTrains()
    {
        // The plain reference is a real training step: on fixed views its loss falls within a few AdamW steps.
        using var step = new PlainTorchSharpCanStep(batch: 8, image: 32, patch: 4, width: 64, depth: 2, heads: 2, decWidth: 32, decDepth: 1, decHeads: 2,
                                                    maskRatio: 0.5, torch.CPU);
        var losses = Enumerable.Range(0, 8).Select(_ => step.Run()).ToArray();
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        Assert.True(losses[^2..].Average() < losses[..2].Average(), string.Join(", ", losses));
    }

    [Fact]
    public void BenchCudaDryRunOnTheCpuReportsConsistentFigures()
    {
        // The GPU bench's code path without a GPU: the reference model, 2 images per view, a given peak.
        var (code, output, err) = Run("bench", "cuda", "--device", "cpu", "--model", "reference", "--batch", "2", "--rounds", "2", "--steps", "1",
            "--warmup", "1", "--no-pytorch", "--peak-tflops", "0.5");
        Assert.True(code == 0, err);
        Assert.Contains("CAN step on cpu (cpu): 32 px, patch 4, ViT 6×192×3, decoder 2×128×4, " +
                        "2 images/view, 64 patches (32 visible), mask 0.5, fp32", output);
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
        Assert.Contains("MFU against a 0.5 TFLOP/s dense fp32 peak (given)", output);
        Assert.Matches(@"CanKit process peak RSS \d+ MB", output);
    }

    [Fact]
    public void BenchCudaRunsTheBf16PolicyWhereTheCpuHasItAndSaysWhyNotElsewhere()
    {
        var (code, output, err) = Run("bench", "cuda", "--device", "cpu", "--model", "reference", "--batch", "2", "--rounds", "1", "--steps", "1",
            "--warmup", "0", "--no-pytorch", "--precision", "bf16");
        if (Engine.CpuFeatures.HasNativeBf16)
        {
            Assert.True(code == 0, err);
            Assert.Contains("mask 0.5, bf16, AdamW", output);
            Assert.Contains("MFU: no peak known for 'cpu' in bf16", output);
        }
        else
        {
            Assert.Equal(2, code);
            Assert.Contains("--precision bf16: this CPU has no native bf16", err);
        }
        (code, _, err) = Run("bench", "cuda", "--device", "cpu", "--precision", "fp16");
        Assert.Equal(2, code);
        Assert.Contains("--precision must be fp32 or bf16 (got 'fp16')", err);
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
    }

    [Theory]
    [InlineData("NVIDIA H200", 67.0)]
    [InlineData("NVIDIA H100 80GB HBM3", 67.0)]
    [InlineData("NVIDIA H100 PCIe", 51.0)]
    [InlineData("NVIDIA H100 NVL", 60.0)]
    [InlineData("NVIDIA A100-SXM4-80GB", 19.5)]
    [InlineData("Tesla T4", null)]
    public void BenchCudaKnowsTheFp32PeakOfCommonGpus(string name, double? peak) =>
        Assert.Equal(peak, CudaStepBench.KnownFp32PeakTflops(name));

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
}
