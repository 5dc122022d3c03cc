using System.CommandLine;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Cli;

/// <summary>
/// `cankit selftest --device cuda`: checks a TorchSharp device against the CPU without the test suite (for machines
/// that have a GPU but no .NET SDK, where a self-contained publish runs): ops, attention, a CAN step with the same
/// weights and randomness and its gradient, pinned-memory copies. Exit code 1 on any mismatch; a device TorchSharp
/// cannot use is a one-line error (exit code 2).
/// </summary>
internal static class SelfTestCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device")
        {
            Description = "device to check against the CPU (cuda, cuda:N; cpu checks the command itself)",
            DefaultValueFactory = _ => "cuda",
        };
        var cmd = new Command("selftest", "compare a device's results with the CPU's (ops, attention, a CAN step and its gradient)") { device };
        cmd.SetAction(r => Cli.Guard(() => Run(Cli.ParseDevice(r.GetValue(device)!))));
        return cmd;
    }

    private static int failures;

    // Largest absolute difference over the largest CPU magnitude: one number per check, comparable across ops.
    private static void Check(string name, Tensor cpu, Tensor dev, double rtol)
    {
        using var scope = torch.NewDisposeScope();
        var a = cpu.detach().to(ScalarType.Float64);
        var b = dev.detach().cpu().to(ScalarType.Float64);
        bool sameShape = a.shape.SequenceEqual(b.shape);
        double scale = Math.Max(1e-12, a.abs().max().item<double>());
        double err = sameShape ? (a - b).abs().max().item<double>() / scale : double.PositiveInfinity;
        bool ok = err <= rtol;
        if (!ok) failures++;
        Console.WriteLine($"{(ok ? "ok  " : "FAIL")} {name,-40} max error / scale {err:E2} (tolerance {rtol:E0})");
    }

    private static int Run(Device dev)
    {
        failures = 0;
        bool cuda = dev.type == DeviceType.CUDA;
        Console.WriteLine($"{Cli.EngineVersion}; checking {Cli.DeviceName(dev)} against cpu");
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(0);
        var a = torch.randn([256, 512], generator: g);
        var b = torch.randn([512, 128], generator: g);
        // fp32 sums of 512 products in a different order: ~sqrt(512)·2⁻²⁴ of the terms' scale, far under 1e-3.
        Check("matmul", a.matmul(b), a.to(dev).matmul(b.to(dev)), 1e-3);
        var q = torch.randn([4, 3, 64, 32], generator: g);
        Check("scaled-dot-product attention", nn.functional.scaled_dot_product_attention(q, q, q),
              nn.functional.scaled_dot_product_attention(q.to(dev), q.to(dev), q.to(dev)), 1e-3);
        var img = torch.randn([8, 3, 32, 32], generator: g);
        var w = torch.randn([16, 3, 4, 4], generator: g);
        // cuDNN runs float32 convolutions in TF32 by default (10-bit mantissa): ~1e-3 of scale over 48 terms.
        Check("conv2d", nn.functional.conv2d(img, w, null, [4, 4]), nn.functional.conv2d(img.to(dev), w.to(dev), null, [4, 4]), cuda ? 1e-2 : 1e-3);

        // A CAN step with identical weights (copied) and identical randomness (given) on both devices.
        var cfg = CanConfig.Paper with { Encoder = VitConfig.CifarSmall with { ClsToken = false, Depth = 2 } };
        using var g1 = new Generator(1);
        using var cpuCan = new Can(cfg, g1);
        using var devCan = new Can(cfg, g1);
        devCan.load_state_dict(cpuCan.state_dict());
        devCan.to(dev);
        var v1 = torch.randn([8, 3, 32, 32], generator: g);
        var v2 = torch.randn([8, 3, 32, 32], generator: g);
        var given = new StepRandomness(torch.rand([16, 64], generator: g), torch.rand([16], generator: g) * 0.05, torch.randn([16, 3, 32, 32], generator: g));
        var givenDev = new StepRandomness(given.MaskNoise!.to(dev), given.Sigma!.to(dev), given.Eps!.to(dev));
        var rc = cpuCan.Forward(v1, v2, null, given);
        var rd = devCan.Forward(v1.to(dev), v2.to(dev), null, givenDev);
        Check("CAN loss", rc.Loss, rd.Loss, 1e-3);
        rc.Loss.backward();
        rd.Loss.backward();
        const string probe = "blocks.0.attn.qkv.weight";
        var pCpu = cpuCan.named_parameters().First(p => p.name.EndsWith(probe, StringComparison.Ordinal)).parameter;
        var pDev = devCan.named_parameters().First(p => p.name.EndsWith(probe, StringComparison.Ordinal)).parameter;
        Check($"CAN gradient of {probe}", pCpu.grad!, pDev.grad!, 1e-2);

        if (cuda)
        {
            var pinned = img.pin_memory();
            Check("pinned host → device copy", img, pinned.to(dev, non_blocking: true), 0);
        }
        Console.WriteLine(failures == 0 ? "selftest passed" : $"selftest FAILED: {failures} check(s)");
        return failures == 0 ? 0 : 1;
    }
}
