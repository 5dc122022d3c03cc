using CanKit.Data;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The command line's precision and device flags: bf16 where the CPU has it, auto, CUDA without a GPU, and the self-test.
/// Runs alone (it redirects the console).
/// </summary>
[Collection("console")]
public sealed class CliPrecisionAndDeviceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Bf16TrainsWhereTheCpuHasNativeBf16AndIsAOneLineErrorElsewhere()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8), run = Path.Combine(_dir, "run");
        var (code, output, err) = Run([.. SyntheticData.TinyPretrainArgs(root, run, steps: 2), "--precision", "bf16"]);
        if (Engine.CpuFeatures.HasNativeBf16)
        {
            Assert.True(code == 0, err);
            Assert.Equal(Vision.Precision.BFloat16, RunSpec.Load(run).Precision);
            Assert.Equal(Vision.Precision.BFloat16, RunSpec.Load(run).Encoder(Datasets.Load("cifar10", root, train: true)).Precision);
            Assert.Contains("\"Bf16\": true", File.ReadAllText(Path.Combine(run, "run.json")));
        }
        else
        {
            Assert.Equal(2, code);
            Assert.Contains("--precision: this CPU has no native bf16 (avx512_bf16 or amx_bf16 missing", err);
            Assert.Single(err.Trim().Split('\n'));
            Assert.False(Directory.Exists(run));
        }
        Assert.DoesNotContain("   at ", output + err);
    }

    [Fact]
    public void PrecisionAutoFollowsTheCpuAndAResumedRunKeepsItsOwn()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8), run = Path.Combine(_dir, "run");
        var (code, _, err) = Run([.. SyntheticData.TinyPretrainArgs(root, run, steps: 2)]);
        Assert.True(code == 0, err);
        // auto: bf16 exactly where the CPU computes it natively.
        Assert.Equal(Engine.CpuFeatures.HasNativeBf16, RunSpec.Load(run).Precision == Vision.Precision.BFloat16);

        // A run started in float32 and continued with the default flag stays float32 (else the run would differ from its run.json).
        string fp32Run = Path.Combine(_dir, "fp32");
        (code, _, err) = Run([.. SyntheticData.TinyPretrainArgs(root, fp32Run, steps: 2), "--precision", "fp32"]);
        Assert.True(code == 0, err);
        (code, _, err) = Run([.. SyntheticData.TinyPretrainArgs(root, fp32Run, steps: 2)]);
        Assert.True(code == 0, err);
        Assert.Equal(Vision.Precision.Float32, RunSpec.Load(fp32Run).Precision);

        (code, var output, err) = Run([.. SyntheticData.TinyPretrainArgs(root, Path.Combine(_dir, "bad"), steps: 2), "--precision", "fp16"]);
        Assert.Equal(2, code);
        Assert.Contains("--precision: unknown precision 'fp16' (expected auto, fp32 or bf16)", err);
        Assert.DoesNotContain("   at ", output + err);
    }

    [Fact]
    public void CudaWithoutAGpuIsAOneLineErrorEverywhere()
    {
        if (torch.cuda.is_available()) return;   // the GPU path itself is SelfTestPassesOnEveryDevice's
        foreach (var args in new[]
                 {
                     new[] { "selftest" },
                     ["selftest", "--device", "cuda:1"],
                     ["pretrain", "--device", "cuda", "--out", Path.Combine(_dir, "run")],
                     ["probe", "--device", "cuda", "--out", Path.Combine(_dir, "run")],
                     ["bench", "cuda"],
                 })
        {
            var (code, _, err) = Run(args);
            Assert.True(code == 2, string.Join(' ', args) + ": " + err);
            Assert.Contains("CUDA is not available", err);
            Assert.Single(err.Trim().Split('\n'));
        }
    }

    [Theory]
    [MemberData(nameof(Devices.All), MemberType = typeof(Devices))]
    public void SelfTestPassesOnEveryDevice(string device)
    {
        // On the CPU this checks the command against itself: every comparison runs, and identical code on identical
        // inputs must agree well inside the tolerances.
        var (code, output, err) = Run("selftest", "--device", device);
        Assert.True(code == 0, output + err);
        foreach (var check in new[] { "matmul", "scaled-dot-product attention", "conv2d", "CAN loss", "CAN gradient of blocks.0.attn.qkv.weight" })
            Assert.Matches($@"ok   {System.Text.RegularExpressions.Regex.Escape(check)} +max error / scale", output);
        Assert.DoesNotContain("FAIL", output);
        Assert.Contains("selftest passed", output);
    }
}
