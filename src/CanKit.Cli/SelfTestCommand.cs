using System.CommandLine;
using CanKit.Methods;
using CanKit.Nn;
using CanKit.Vision;

namespace CanKit.Cli;

/// <summary>
/// `cankit selftest --device cuda`: checks a device against the CPU without the test suite (for machines that have a
/// GPU but no .NET SDK, where a self-contained publish runs): ops, gradients, attention, a CAN step with the same
/// weights and randomness, bf16 autocast and pinned-memory copies. Exit code 1 on any mismatch.
/// </summary>
internal static class SelfTestCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "device to check against the CPU", DefaultValueFactory = _ => "cuda" };
        var cmd = new Command("selftest", "compare a device's results with the CPU's (ops, gradients, a CAN step, autocast)") { device };
        cmd.SetAction(r => Cli.Guard(() => Run(Cli.ParseDevice(r.GetValue(device)!))));
        return cmd;
    }

    private static int failures;

    private static void Check(string name, Tensor cpu, Tensor dev, double rtol)
    {
        using var back = dev.To(Device.Cpu, DType.Float64);
        using var c = cpu.To(DType.Float64);
        double[] a = c.ToArray<double>(), b = back.ToArray<double>();
        double scale = Math.Max(1e-12, a.Max(Math.Abs));
        double err = a.Zip(b, (x, y) => Math.Abs(x - y)).DefaultIfEmpty(0).Max() / scale;
        bool ok = err <= rtol && a.Length == b.Length;
        if (!ok) failures++;
        Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name,-40} max error / scale {err:E2} (tolerance {rtol:E0})");
    }

    private static int Run(Device dev)
    {
        failures = 0;
        Console.WriteLine($"libtorch {Torch.LibTorchVersion}; checking {dev} against cpu");
        using var scope = Torch.NewDisposeScope();
        using var g = new Generator(0);
        var a = Tensor.Randn([256, 512], g);
        var b = Tensor.Randn([512, 128], g);
        Check("matmul", a.MatMul(b), a.To(dev).MatMul(b.To(dev)), 1e-3);
        var q = Tensor.Randn([4, 3, 64, 32], g);
        Check("scaled-dot-product attention", Functional.ScaledDotProductAttention(q, q, q), Functional.ScaledDotProductAttention(q.To(dev), q.To(dev), q.To(dev)), 1e-3);
        var img = Tensor.Randn([8, 3, 32, 32], g);
        var w = Tensor.Randn([16, 3, 4, 4], g);
        // cuDNN may run float32 convolutions in TF32 (10-bit mantissa, libtorch's default): ~1e-3 of scale over 48 terms.
        Check("conv2d", Functional.Conv2d(img, w, stride: (4, 4)), Functional.Conv2d(img.To(dev), w.To(dev), stride: (4, 4)), dev.IsCuda ? 1e-2 : 1e-3);

        // A CAN step with identical weights and randomness on both devices.
        var cfg = CanConfig.Paper with { Encoder = VitConfig.CifarSmall with { ClsToken = false, Depth = 2 } };
        using var cpuCan = new Can(cfg, new Generator(1));
        using var devCan = new Can(cfg, new Generator(1));
        devCan.To(dev);
        var v1 = Tensor.Randn([8, 3, 32, 32], g);
        var v2 = Tensor.Randn([8, 3, 32, 32], g);
        var given = new StepRandomness(Tensor.Rand([16, 64], g), Tensor.Rand([16], g) * 0.05, Tensor.Randn([16, 3, 32, 32], g));
        var givenDev = new StepRandomness(given.MaskNoise!.To(dev), given.Sigma!.To(dev), given.Eps!.To(dev));
        using var rc = cpuCan.Forward(v1, v2, null, given);
        using var rd = devCan.Forward(v1.To(dev), v2.To(dev), null, givenDev);
        Check("CAN loss", rc.Loss, rd.Loss, 1e-3);
        rc.Loss.Backward();
        rd.Loss.Backward();
        var pCpu = cpuCan.NamedParameters().First(p => p.Key.EndsWith("blocks.0.attn.qkv.weight")).Value;
        var pDev = devCan.NamedParameters().First(p => p.Key.EndsWith("blocks.0.attn.qkv.weight")).Value;
        Check("CAN gradient of blocks.0.attn.qkv.weight", pCpu.Grad!, pDev.Grad!, 1e-2);

        using (Torch.Autocast(dev))
        {
            var y = a.To(dev).MatMul(b.To(dev));
            bool ok = y.DType == DType.BFloat16;
            if (!ok) failures++;
            Console.WriteLine($"{(ok ? "ok  " : "FAIL")} bf16 autocast makes matmul bf16 ({y.DType})");
        }
        if (dev.IsCuda)
        {
            var pinned = img.PinMemory();
            Check("pinned host → device copy", img, pinned.To(dev, DType.Float32, nonBlocking: true), 0);
        }
        Console.WriteLine(failures == 0 ? "selftest passed" : $"selftest FAILED: {failures} check(s)");
        return failures == 0 ? 0 : 1;
    }
}
