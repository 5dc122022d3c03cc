using System.CommandLine;
using System.Diagnostics;
using CanKit.Engine;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Vision;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench precision`: float32 against bf16 op by op and for the whole reference CAN step, side by side in
/// alternating rounds. Ops are timed forward + backward (training pays both): a 1024³ GEMM, the qkv-sized linear
/// [8192×192]·[192×576] (bf16 with the policy's casts, and already-bf16 tensors without them), GELU between the
/// MLP's products, SDPA at the reference
/// encoder's shapes ([128, 3, 32, 64]: 2×64 images, 3 heads, 32 visible tokens, head width 64) and, against float32
/// SDPA, attention written as two bf16 matmuls around a float32 softmax, the patch projection, and the CAN step of
/// <see cref="StepBench"/> with <see cref="Precision.BFloat16"/>. Ratios are medians of per-round ratios bf16 / fp32.
/// </summary>
internal static class PrecisionBench
{
    public static Command Create()
    {
        var (rounds, steps, batch) = SideBySide.Options("CAN steps", "images per view");
        var cmd = new Command("precision", "float32 vs bf16 (the precision policy) op by op and for the CAN step, side by side") { rounds, steps, batch };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(steps), r.GetValue(batch))));
        return cmd;
    }

    private static int Run(int rounds, int steps, int batch)
    {
        if (steps < 1) throw new ArgumentException($"--steps must be ≥ 1 (got {steps})");
        if (batch < 2) throw new ArgumentException($"--batch must be ≥ 2 (got {batch})");
        Console.WriteLine($"{MachineInfo.CpuModel}, {MachineInfo.Cores} cores, {torch.get_num_threads()} threads, {Cli.EngineVersion}; " +
                          $"CPU flags: {string.Join(' ', CpuFeatures.Bf16Flags)} (native bf16: {(CpuFeatures.HasNativeBf16 ? "yes" : "no")})");
        using var g = new Generator(0);
        const ScalarType bf16 = ScalarType.BFloat16;

        // 1024³ GEMM, forward only: the machine's peak for each dtype.
        using var ga = torch.randn([1024, 1024], generator: g);
        using var gb = torch.randn([1024, 1024], generator: g);
        using var gaH = ga.to(bf16);
        using var gbH = gb.to(bf16);
        double Gemm(Tensor a, Tensor b) => Time(5, () => a.matmul(b).Dispose());

        // The encoder's qkv product at 2×64 images × 64 tokens: [8192, 192]·[192, 576], forward + backward.
        using var lin = nn.Linear(192, 576);
        using var lx = torch.randn([8192, 192], generator: g).requires_grad_();
        using var ldy = torch.randn([8192, 576], generator: g);
        using var lxH = lx.detach().to(bf16).requires_grad_();
        using var lwH = lin.weight!.detach().to(bf16).requires_grad_();
        using var lbH = lin.bias!.detach().to(bf16).requires_grad_();
        using var ldyH = ldy.to(bf16);
        double LinearStep(Func<Tensor> forward, Tensor dy) => Time(3, () =>
        {
            using var scope = torch.NewDisposeScope();
            forward().backward([dy]);
        });

        // SDPA at the reference encoder's shapes [N, H, Lv, hd] = [2·batch, 3, 32, 64], forward + backward.
        long n = 2L * batch;
        using var q = torch.randn([n, 3, 32, 64], generator: g).requires_grad_();
        using var k = torch.randn([n, 3, 32, 64], generator: g).requires_grad_();
        using var v = torch.randn([n, 3, 32, 64], generator: g).requires_grad_();
        using var sdy = torch.randn([n, 3, 32, 64], generator: g);
        using var qH = q.detach().to(bf16).requires_grad_();
        using var kH = k.detach().to(bf16).requires_grad_();
        using var vH = v.detach().to(bf16).requires_grad_();
        using var sdyH = sdy.to(bf16);
        double Sdpa(Tensor a, Tensor b, Tensor c, Tensor dy) => Time(5, () =>
        {
            using var scope = torch.NewDisposeScope();
            nn.functional.scaled_dot_product_attention(a, b, c).backward([dy]);
        });

        // GELU between fc1 and fc2 at the same tokens: [8192, 768], forward + backward.
        using var gx = torch.randn([8192, 768], generator: g).requires_grad_();
        using var gdy = torch.randn([8192, 768], generator: g);
        using var gxH = gx.detach().to(bf16).requires_grad_();
        using var gdyH = gdy.to(bf16);
        double Gelu(Tensor x, Tensor dy) => Time(5, () =>
        {
            using var scope = torch.NewDisposeScope();
            nn.functional.gelu(x).backward([dy]);
        });

        // The patch projection: 4×4 stride-4 convolution of [2·batch, 3, 32, 32] to 192 channels, forward + backward.
        using var conv = nn.Conv2d(3, 192, 4, stride: 4);
        using var img = torch.randn([n, 3, 32, 32], generator: g);
        using var cdy = torch.randn([n, 192, 8, 8], generator: g);
        double Patch(Precision p) => Time(5, () =>
        {
            using var scope = torch.NewDisposeScope();
            PrecisionPolicy.PatchConv(conv, img, 4, p).backward([cdy]);
        });

        // The reference CAN step, float32 and with the policy, from the same initial weights and views.
        using var v1 = torch.randn([batch, 3, 32, 32], generator: g);
        using var v2 = torch.randn([batch, 3, 32, 32], generator: g);
        using var can32 = CanStep(Precision.Float32, v1, v2);
        using var can16 = CanStep(Precision.BFloat16, v1, v2);

        var pairs = new (string Op, Func<double> Fp32, Func<double> Bf16)[]
        {
            ("GEMM 1024³ (forward)", () => Gemm(ga, gb), () => Gemm(gaH, gbH)),
            ("linear [8192×192]·[192×576], policy casts", () => LinearStep(() => lin.call(lx), ldy),
                () => LinearStep(() => PrecisionPolicy.Linear(lin, lx, Precision.BFloat16), ldy)),
            ("linear [8192×192]·[192×576], bf16 tensors", () => LinearStep(() => lin.call(lx), ldy),
                () => LinearStep(() => nn.functional.linear(lxH, lwH, lbH), ldyH)),
            ($"patch projection [{n}, 3, 32, 32] → [{n}, 192, 8, 8], policy casts", () => Patch(Precision.Float32), () => Patch(Precision.BFloat16)),
            ("GELU [8192×768]", () => Gelu(gx, gdy), () => Gelu(gxH, gdyH)),
            ($"SDPA [{n}, 3, 32, 64]", () => Sdpa(q, k, v, sdy), () => Sdpa(qH, kH, vH, sdyH)),
            ($"attention [{n}, 3, 32, 64]: SDPA fp32 vs bf16 matmuls with fp32 softmax", () => Sdpa(q, k, v, sdy), () => Time(5, () =>
            {
                using var scope = torch.NewDisposeScope();
                var scores = qH.matmul(kH.transpose(-2, -1)).to(ScalarType.Float32) * (1 / Math.Sqrt(64));   // [N, H, L, L]
                var p = scores.softmax(-1).to(bf16);
                p.matmul(vH).backward([sdyH]);
            })),
            ("CAN step (reference config)", () => StepBench.Median(steps, can32.Step), () => StepBench.Median(steps, can16.Step)),
        };
        // Warm-up: first calls allocate and pick kernels.
        foreach (var p in pairs) { p.Fp32(); p.Bf16(); }

        var contenders = pairs.SelectMany(p => new (string, Func<double>)[] { ($"{p.Op} | fp32", p.Fp32), ($"{p.Op} | bf16", p.Bf16) }).ToList();
        var res = SideBySide.Run(contenders, rounds, (round, so) =>
            Console.WriteLine($"round {round + 1}/{rounds}: " + string.Join("  ", pairs.Select(p =>
                $"{p.Op.Split(' ')[0]} {so.Values($"{p.Op} | fp32")[^1]:F1}/{so.Values($"{p.Op} | bf16")[^1]:F1}"))));

        Console.WriteLine();
        var table = new MarkdownTable("op (forward + backward unless marked)", "fp32 ms", "bf16 ms", "bf16 / fp32");
        table.RightAligned.UnionWith([1, 2, 3]);
        foreach (var p in pairs)
            table.Add(p.Op, $"{res.Median($"{p.Op} | fp32"):F2}", $"{res.Median($"{p.Op} | bf16"):F2}",
                      $"{res.MedianRatio($"{p.Op} | bf16", $"{p.Op} | fp32"):F3}");
        Console.Write(table);
        Console.WriteLine($"medians over {rounds} rounds; the ratio is the median of per-round ratios (< 1: bf16 faster)");
        return 0;
    }

    /// <summary>One reference CAN model with its AdamW, stepping on fixed views.</summary>
    private sealed class CanStepper(Can can, optim.Optimizer opt, Tensor v1, Tensor v2, Generator g) : IDisposable
    {
        public void Step()
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            can.Forward(v1, v2, g).Loss.backward();
            opt.step();
        }

        public void Dispose()
        {
            opt.Dispose();
            can.Dispose();
            g.Dispose();
        }
    }

    private static CanStepper CanStep(Precision precision, Tensor v1, Tensor v2)
    {
        var g = new Generator(0);
        var can = new Can(CanConfig.Paper with
        {
            Encoder = StepBench.Encoder with { Precision = precision }, Decoder = StepBench.Decoder, MaskRatio = StepBench.Mask,
        }, g);
        var opt = optim.AdamW(WeightDecayGroups.Split(can, 0.05, "pos_embed", "mask_token"), lr: 1e-4);
        return new CanStepper(can, opt, v1, v2, g);
    }

    // Milliseconds per call: the best of 3 repeats of `reps` calls (ops take milliseconds; the best is the op's cost
    // without a scheduler slice from the other work on a shared machine).
    private static double Time(int reps, Action op)
    {
        double best = double.MaxValue;
        for (int r = 0; r < 3; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) op();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds / reps);
        }
        return best;
    }
}
