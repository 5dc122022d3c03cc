using System.CommandLine;
using System.Diagnostics;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Vision;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench step`: the reference CAN training step (32×32×3, patch 4, encoder 6 × 192 × 3 heads, decoder
/// 2 × 128 × 4 heads, 64 images per view, mask 0.5, AdamW) timed in alternating rounds three ways: with CanKit's
/// <see cref="Can"/>, written plainly in TorchSharp without CanKit (<see cref="PlainTorchSharpCanStep"/>), and in
/// PyTorch eager (torch_can_step.py in a child process, when a python with torch is there). Beside them: the SimCLR
/// step with the same encoder and a 1024³ GEMM (this machine's peak at that moment). Prints medians and the ratios,
/// each the median of per-round ratios.
/// </summary>
internal static class StepBench
{
    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps")
        {
            Description = "steps per round per contender (their median is the round's figure)",
            DefaultValueFactory = _ => 3,
        };
        var batch = new Option<int>("--batch") { Description = "images per view", DefaultValueFactory = _ => 64 };
        var noTorch = new Option<bool>("--no-pytorch") { Description = "skip the PyTorch contender" };
        var python = new Option<string>("--python")
        {
            Description = "the python with PyTorch for the eager contender",
            DefaultValueFactory = _ => TorchStepWorker.DebianPython,
        };
        var cmd = new Command("step", "CanKit's CAN step vs the same step in plain TorchSharp and in PyTorch eager, side by side")
            { rounds, steps, batch, noTorch, python };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(steps), r.GetValue(batch), !r.GetValue(noTorch), r.GetValue(python)!)));
        return cmd;
    }

    internal static readonly VitConfig Encoder = VitConfig.CifarSmall with { ClsToken = false };
    internal static readonly DecoderConfig Decoder = DecoderConfig.Small32;
    internal const double Mask = 0.5;

    // Contender names: the table's rows and the keys of the ratios.
    internal const string CanKitCan = "CanKit CAN", PlainCan = "TorchSharp CAN", TorchCan = "PyTorch CAN", CanKitSimClr = "CanKit SimCLR", Gemm = "GEMM 1024³";

    private static int Run(int rounds, int steps, int batch, bool withTorch, string python)
    {
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {rounds})");
        if (steps < 1) throw new ArgumentException($"--steps must be ≥ 1 (got {steps})");
        if (batch < 2) throw new ArgumentException($"--batch must be ≥ 2 (got {batch})");
        int threads = torch.get_num_threads();
        Console.WriteLine($"reference step: {batch} images/view, 32 px, patch 4, ViT 6×192×3, decoder 2×128×4, mask {Mask}, AdamW; " +
                          $"{MachineInfo.CpuModel}, {MachineInfo.Cores} cores, {threads} threads, {Cli.EngineVersion}");

        using var g = new Generator(0);
        using var can = new Can(CanConfig.Paper with { Encoder = Encoder, Decoder = Decoder, MaskRatio = Mask }, g);
        using var canOpt = optim.AdamW(WeightDecayGroups.Split(can, 0.05, "pos_embed", "mask_token"), lr: 1e-4);
        using var simclr = new SimClr(new SimClrConfig { Encoder = Encoder }, g);
        using var simOpt = optim.AdamW(WeightDecayGroups.Split(simclr, 0.05, "pos_embed"), lr: 1e-4);
        using var v1 = torch.randn([batch, 3, 32, 32], generator: g);
        using var v2 = torch.randn([batch, 3, 32, 32], generator: g);
        void CanStep()
        {
            using var scope = torch.NewDisposeScope();
            canOpt.zero_grad();
            can.Forward(v1, v2, g).Loss.backward();
            canOpt.step();
        }
        void SimStep()
        {
            using var scope = torch.NewDisposeScope();
            simOpt.zero_grad();
            simclr.Forward(v1, v2).Loss.backward();
            simOpt.step();
        }
        using var plain = new PlainTorchSharpCanStep(batch, Encoder.ImageSize, Encoder.PatchSize, Encoder.Width, Encoder.Depth, Encoder.Heads,
                                                     Decoder.Width, Decoder.Depth, Decoder.Heads, Mask, torch.CPU);
        // One untimed step each: first calls allocate and pick kernels.
        CanStep();
        SimStep();
        plain.Run();

        var contenders = new List<(string Name, Func<double> Measure)>
        {
            (Gemm, GemmPeak),   // measured beside the steps: on a shared machine the peak moves with the load too
            (CanKitCan, () => Median(steps, CanStep)),
            (PlainCan, () => Median(steps, () => plain.Run())),
            (CanKitSimClr, () => Median(steps, SimStep)),
        };
        using var pytorch = withTorch ? StartTorch(python, batch, threads) : null;
        double torchRssMb = 0;
        if (pytorch is not null)
            contenders.Add((TorchCan, () => { var (ms, mb) = pytorch.Steps(steps); torchRssMb = mb; return ms; }));

        var res = SideBySide.Run(contenders, rounds, (round, so) =>
            Console.WriteLine($"round {round + 1}/{rounds}: " + string.Join("  ", contenders.Select(c =>
                $"{c.Name} {so.Values(c.Name)[^1]:F1}{(c.Name == Gemm ? " GFLOP/s" : " ms")}"))));

        double canFlops = Flops(batch, Mask, withDecoder: true), simFlops = Flops(batch, 0, withDecoder: false);
        double peak = res.Median(Gemm);
        Console.WriteLine();
        var table = new MarkdownTable("contender", "ms/step (median)", "GFLOP/s", "share of GEMM peak");
        table.RightAligned.UnionWith([1, 2, 3]);
        void Row(string name, double flops)
        {
            double ms = res.Median(name);
            // Share per round (the step against the GEMM measured beside it), then the median over rounds.
            double share = SideBySide.MedianOf(res.Values(name).Zip(res.Values(Gemm), (t, gemm) => flops / t / 1e6 / gemm));
            table.Add(name, $"{ms:F1}", $"{flops / ms / 1e6:F1}", $"{share * 100:F0} %");
        }
        Row(CanKitCan, canFlops);
        Row(PlainCan, canFlops);
        if (pytorch is not null) Row(TorchCan, canFlops);
        Row(CanKitSimClr, simFlops);
        Console.Write(table);
        Console.WriteLine($"GEMM peak (1024³ fp32, median of the rounds' best of 5): {peak:F1} GFLOP/s; " +
                          $"CanKit process peak RSS {MachineInfo.PeakRss() / 1e6:F0} MB");
        Console.WriteLine($"CanKit / plain TorchSharp (CAN step time) = {res.MedianRatio(CanKitCan, PlainCan):F3}  " +
                          "(median of per-round ratios; < 1: CanKit faster)");
        if (pytorch is not null)
        {
            Console.WriteLine($"CanKit / PyTorch eager (CAN step time) = {res.MedianRatio(CanKitCan, TorchCan):F3}  " +
                              $"(median of per-round ratios; PyTorch peak RSS {torchRssMb:F0} MB)");
            Console.WriteLine($"plain TorchSharp / PyTorch eager (CAN step time) = {res.MedianRatio(PlainCan, TorchCan):F3}");
        }
        Console.WriteLine($"CAN / SimCLR (step time) = {res.MedianRatio(CanKitCan, CanKitSimClr):F3}  " +
                          $"(model FLOPs ratio {canFlops / simFlops:F3}; paper's claim: SimCLR ≈ 1.7× CAN)");
        return 0;
    }

    /// <summary>Matmul FLOPs of one reference training step (forward × 3 for forward + backward), analytically.</summary>
    internal static double Flops(int batch, double mask, bool withDecoder) => Flops(Encoder, Decoder, batch, mask, withDecoder);

    /// <summary>
    /// Matmul FLOPs of one CAN (withDecoder) or SimCLR training step on two views of <paramref name="batch"/> images:
    /// the forward's products (MLP ratio 4, projection head d → d → 128) × 3 for forward + backward.
    /// </summary>
    internal static double Flops(VitConfig enc, DecoderConfig dec, int batch, double mask, bool withDecoder) =>
        StepFlops.Can(enc, dec, batch, mask, decoder: withDecoder, sigmaEmbedding: withDecoder, hidden: enc.Width, projection: 128);

    // The PyTorch contender as users run it (its own thread defaults, the same intra-op count); skipped with the
    // reason when the python or its torch is not there, so the TorchSharp comparison still runs.
    private static TorchStepWorker? StartTorch(string python, int batch, int threads)
    {
        try
        {
            return TorchStepWorker.Start(python, Encoder, Decoder, batch, Mask, threads, "cpu", "fp32");
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
        {
            Console.WriteLine($"PyTorch contender skipped: {e.Message}");
            return null;
        }
    }

    private static double GemmPeak()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.randn(1024, 1024);
        var b = torch.randn(1024, 1024);
        for (int i = 0; i < 3; i++) a.matmul(b).Dispose();
        var times = new List<double>();
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 5; i++) a.matmul(b).Dispose();
            times.Add(sw.Elapsed.TotalSeconds / 5);
        }
        return 2.0 * 1024 * 1024 * 1024 / times.Min() / 1e9;
    }

    /// <summary>The median of <paramref name="n"/> timed calls of <paramref name="step"/>, in ms.</summary>
    internal static double Median(int n, Action step)
    {
        var t = new List<double>();
        for (int i = 0; i < n; i++)
        {
            var sw = Stopwatch.StartNew();
            step();
            t.Add(sw.Elapsed.TotalMilliseconds);
        }
        return SideBySide.MedianOf(t);
    }
}
