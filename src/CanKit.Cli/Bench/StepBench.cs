using System.CommandLine;
using System.Diagnostics;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Vision;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench step`: the reference CAN training step (32×32×3, patch 4, encoder 6 × 192 × 3 heads, decoder
/// 2 × 128 × 4 heads, 64 images per view, mask 0.5, AdamW), the SimCLR step with the same encoder, and the same CAN
/// step in PyTorch eager on the same libtorch (a child process), in alternating rounds within one run. Prints medians,
/// the ratios, achieved GFLOP/s as a share of this machine's measured GEMM peak, and peak memory.
/// </summary>
internal static class StepBench
{
    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps") { Description = "steps per round per contender", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "images per view", DefaultValueFactory = _ => 64 };
        var noTorch = new Option<bool>("--no-pytorch") { Description = "skip the PyTorch contender" };
        var cankitThreads = new Option<bool>("--pytorch-cankit-threads") { Description = $"give PyTorch CanKit's thread settings too (GOMP_SPINCOUNT={Torch.OpenMpSpinCount}, OPENBLAS_THREAD_TIMEOUT=4, CanKit's BLAS)" };
        var bf16 = new Option<bool>("--bf16") { Description = "time the CPU bf16-autocast step even without avx512_bf16" };
        var cmd = new Command("step", "CAN vs SimCLR vs PyTorch-eager CAN training steps, side by side") { rounds, steps, batch, noTorch, cankitThreads, bf16 };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(steps), r.GetValue(batch), !r.GetValue(noTorch), r.GetValue(cankitThreads), r.GetValue(bf16))));
        return cmd;
    }

    internal static readonly VitConfig Encoder = VitConfig.CifarSmall with { ClsToken = false };
    internal static readonly DecoderConfig Decoder = DecoderConfig.Small32;
    internal const double Mask = 0.5;

    private static int Run(int rounds, int steps, int batch, bool withTorch, bool torchCanKitThreads, bool forceBf16)
    {
        int threads = Torch.NumThreads;
        Console.WriteLine($"reference step: {batch} images/view, 32 px, patch 4, ViT 6×192×3, decoder 2×128×4, mask {Mask}; {Environment.ProcessorCount} cores, {threads} threads, libtorch {Torch.LibTorchVersion}, BLAS {Torch.BlasLibrary ?? "unknown"}");
        using var g = new Generator(0);
        using var can = new Can(CanConfig.Paper with { Encoder = Encoder, Decoder = Decoder, MaskRatio = Mask }, g);
        using var canOpt = new AdamW(AdamW.DecayGroups(can, 0.05), lr: 1e-4);
        using var simclr = new SimClr(new SimClrConfig { Encoder = Encoder }, g);
        using var simOpt = new AdamW(AdamW.DecayGroups(simclr, 0.05), lr: 1e-4);
        using var v1 = Tensor.Randn([batch, 3, 32, 32], g);
        using var v2 = Tensor.Randn([batch, 3, 32, 32], g);
        void CanStep() { using var s = Torch.NewDisposeScope(); canOpt.ZeroGrad(); using var r = can.Forward(v1, v2, g); r.Loss.Backward(); canOpt.Step(); }
        Action CanStepWithout(EngineSetting setting) => () => { using (Torch.Override(setting, false)) CanStep(); };
        // Every CanKit kernel off at once: the same process on libtorch's own kernels (allocator and threads unchanged).
        var kernels = new List<EngineSetting> { EngineSetting.FusedAttention };
        if (Torch.DnnlLinearAvailable) kernels.Add(EngineSetting.DnnlLinear);
        if (Torch.FusedLinearGeluAvailable) kernels.AddRange([EngineSetting.FusedLinearGelu, EngineSetting.FusedLayerNorm]);
        void CanStepLibTorchKernels()
        {
            var scopes = kernels.Select(k => Torch.Override(k, false)).ToList();
            try { CanStep(); }
            finally { scopes.ForEach(sc => sc.Dispose()); }
        }
        void CanStepBf16() { using var s = Torch.NewDisposeScope(); canOpt.ZeroGrad(); StepResult r; using (Torch.Autocast(Device.Cpu)) r = can.Forward(v1, v2, g); using (r) { r.Loss.Backward(); } canOpt.Step(); }
        void SimStep() { using var s = Torch.NewDisposeScope(); simOpt.ZeroGrad(); using var r = simclr.Forward(v1, v2); r.Loss.Backward(); simOpt.Step(); }
        CanStep();
        SimStep();
        long rssCan = PeakRss();

        // Contenders in the order each round runs them; the PyTorch one is appended when present.
        // The GEMM peak is one of the contenders: on a shared machine it moves with the load, like the steps.
        var contenders = new List<(string Name, Func<double> Run)>
        {
            ("GEMM 1024³", () => GemmPeak()),
            ("CAN", () => Median(steps, CanStep)),
            ("SimCLR", () => Median(steps, SimStep)),
            ("CAN libtorch-kernels", () => Median(steps, CanStepLibTorchKernels)),
        };
        if (Torch.CpuAllocator.Caching) contenders.Add(("CAN uncached-allocator", () => Median(steps, CanStepWithout(EngineSetting.CpuCaching))));
        // Without avx512_bf16, libtorch 1.13 emulates bf16 GEMMs at a small fraction of fp32 speed: not worth timing.
        if (Torch.CpuHasBf16 || forceBf16) contenders.Add(("CAN bf16-autocast", () => Median(steps, CanStepBf16)));
        else Console.WriteLine("CPU bf16 autocast: skipped (this CPU has no avx512_bf16; --bf16 times it anyway)");
        using var torch = withTorch ? StartTorch(batch, threads, torchCanKitThreads) : null;
        double torchRss = 0;
        if (torch is not null)
            contenders.Add(("PyTorch CAN", () => { var (ms, rss) = torch.Steps(steps); torchRss = rss; return ms; }));
        var times = contenders.ToDictionary(c => c.Name, _ => new List<double>());
        var faults = contenders.ToDictionary(c => c.Name, _ => 0L);
        for (int r = 0; r < rounds; r++)
        {
            foreach (var (name, run) in contenders)
            {
                long before = MinorFaults();
                times[name].Add(run());
                faults[name] += MinorFaults() - before;
            }
            Console.WriteLine($"round {r + 1}/{rounds}: " + string.Join("  ", contenders.Select(c => $"{c.Name} {times[c.Name][^1]:F1}" + (c.Name.StartsWith("GEMM") ? " GFLOP/s" : " ms"))));
        }
        double peak = SideBySide.MedianOf(times["GEMM 1024³"]);
        double can_ = SideBySide.MedianOf(times["CAN"]), sim = SideBySide.MedianOf(times["SimCLR"]);
        double canFlops = Flops(batch, Mask, withDecoder: true), simFlops = Flops(batch, 0, withDecoder: false);
        Console.WriteLine();
        Console.WriteLine($"GEMM peak (1024³ fp32, median of the rounds' best of 5): {peak:F1} GFLOP/s");
        var alloc = Torch.CpuAllocator;
        Console.WriteLine($"CPU allocator: {(alloc.Caching ? $"caching, {alloc.Hits} reuses / {alloc.Misses} new blocks, {alloc.CachedBytes / 1e6:F0} MB held free" : "libtorch's default (CANKIT_CPU_ALLOCATOR=system)")}");
        // Share of peak per round (the step against the GEMM measured beside it), then the median over rounds.
        // The peak drifts within a run (a busy neighbour slows one GEMM and not the next step), so the spread of the
        // rounds and the plainer "median step ÷ median peak" are printed beside it.
        List<double> Shares(string name, double flops) => times[name].Zip(times["GEMM 1024³"], (ms, gemm) => flops / ms / 1e6 / gemm).ToList();
        string Share(string name, double flops, double median)
        {
            var sh = Shares(name, flops);
            return $"{SideBySide.MedianOf(sh):P0} of peak, median of per-round shares; rounds {sh.Min() * 100:F0}–{sh.Max() * 100:F0} %; median step ÷ median peak {flops / median / 1e6 / peak:P0}";
        }
        Console.WriteLine($"CanKit CAN step     median {can_,8:F1} ms  {canFlops / can_ / 1e6,6:F1} GFLOP/s ({Share("CAN", canFlops, can_)})  peak RSS {rssCan / 1e6:F0} MB (whole process)");
        Console.WriteLine($"CanKit SimCLR step  median {sim,8:F1} ms  {simFlops / sim / 1e6,6:F1} GFLOP/s ({Share("SimCLR", simFlops, sim)})");
        // Each fast path against its fallback: the median over rounds of the two steps' ratio within the round.
        double Paired(string name) => SideBySide.MedianOf(times[name].Zip(times["CAN"], (other, can) => other / can).ToList());
        void Compare(string name, string what, string gain, string extra = "")
        {
            if (times.TryGetValue(name, out var t))
                Console.WriteLine($"CanKit CAN step, {what}  median {SideBySide.MedianOf(t),8:F1} ms  ({gain}: {Paired(name):F2}× faster, median of per-round ratios{extra})");
        }
        Compare("CAN libtorch-kernels", $"on libtorch's own kernels ({string.Join(", ", kernels)} off)", "CanKit's kernels");
        Compare("CAN uncached-allocator", "CPU allocator not caching", "caching allocator",
                times.ContainsKey("CAN uncached-allocator")
                    ? $"; minor page faults per step {faults["CAN uncached-allocator"] / (rounds * steps):N0} vs {faults["CAN"] / (rounds * steps):N0} caching"
                    : "");
        if (times.TryGetValue("CAN bf16-autocast", out var bf16))
            Console.WriteLine($"CanKit CAN step, CPU bf16 autocast  median {SideBySide.MedianOf(bf16),8:F1} ms  ({can_ / SideBySide.MedianOf(bf16):F2}× the fp32 step's speed)");
        Console.WriteLine($"CAN / SimCLR = {can_ / sim:F3}, median of per-round ratios {SideBySide.MedianOf(times["CAN"].Zip(times["SimCLR"], (c, si) => c / si).ToList()):F3}   (model FLOPs ratio {canFlops / simFlops:F3}; paper's claim: SimCLR ≈ 1.7× CAN)");
        if (torch is not null)
        {
            double t = SideBySide.MedianOf(times["PyTorch CAN"]);
            Console.WriteLine($"PyTorch CAN step    median {t,8:F1} ms  peak RSS {torchRss:F0} MB  (thread settings: {(torchCanKitThreads ? "CanKit's" : "PyTorch's defaults")})");
            Console.WriteLine($"CanKit / PyTorch (CAN step) = {can_ / t:F3}");
        }
        return 0;
    }

    /// <summary>Matmul FLOPs of one reference training step (forward × 3 for forward + backward), analytically.</summary>
    internal static double Flops(int batch, double mask, bool withDecoder) => Flops(Encoder, Decoder, batch, mask, withDecoder);

    /// <summary>
    /// Matmul FLOPs of one CAN (withDecoder) or SimCLR training step on two views of <paramref name="batch"/> images:
    /// the forward's products (MLP ratio 4, projection head d → d → 128) × 3 for forward + backward.
    /// </summary>
    internal static double Flops(VitConfig enc, DecoderConfig dec, int batch, double mask, bool withDecoder)
    {
        int n = 2 * batch, l = enc.NumPatches, lv = (int)(l * (1 - mask)), d = enc.Width, p = enc.PatchDim, dd = dec.Width;
        double f = 2.0 * n * l * p * d;                                       // patch embedding (all patches)
        f += enc.Depth * n * (24.0 * lv * d * d + 4.0 * lv * lv * d);         // encoder on visible tokens
        f += 2.0 * n * (d * d + d * 128);                                     // projection head
        if (withDecoder)
        {
            f += 2.0 * n * lv * d * dd;                                       // decoder embed
            f += dec.Depth * n * (24.0 * l * dd * dd + 4.0 * l * l * dd);     // decoder blocks on all tokens
            f += 2.0 * n * l * dd * p;                                        // pixel head
            f += 2.0 * n * 2 * dd * dd;                                       // σ embedding
        }
        return 3 * f;
    }

    // The PyTorch contender on this machine's python3-torch: as users run it (libgomp's and OpenBLAS's defaults)
    // unless asked to match CanKit's thread settings.
    private static TorchStepWorker StartTorch(int batch, int threads, bool cankitThreads) =>
        TorchStepWorker.Start(TorchStepWorker.DebianPython, Encoder, Decoder, batch, Mask, threads, "cpu", "fp32", psi =>
        {
            psi.Environment.Remove("OMP_WAIT_POLICY");
            if (cankitThreads)
            {
                psi.Environment["GOMP_SPINCOUNT"] = Torch.OpenMpSpinCount;
                psi.Environment["OPENBLAS_THREAD_TIMEOUT"] = "4";
                // The BLAS CanKit loaded (Debian's OpenMP OpenBLAS, when installed) comes first on PyTorch's library path.
                if (Torch.BlasLibrary is string blas && blas.Contains("/openblas-openmp/", StringComparison.Ordinal))
                    psi.Environment["LD_LIBRARY_PATH"] = Path.GetDirectoryName(blas);
            }
            else
            {
                psi.Environment.Remove("GOMP_SPINCOUNT");
                psi.Environment.Remove("OPENBLAS_THREAD_TIMEOUT");
            }
        });

    private static double GemmPeak()
    {
        using var a = Tensor.Randn([1024, 1024]);
        using var b = Tensor.Randn([1024, 1024]);
        for (int i = 0; i < 3; i++) a.MatMul(b).Dispose();
        var times = new List<double>();
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 5; i++) a.MatMul(b).Dispose();
            times.Add(sw.Elapsed.TotalSeconds / 5);
        }
        return 2.0 * 1024 * 1024 * 1024 / times.Min() / 1e9;
    }

    private static double Median(int n, Action step)
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

    /// <summary>Minor page faults of this process so far (/proc/self/stat field 10).</summary>
    private static long MinorFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7]);
    }

    private static long PeakRss()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:")) return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }
}
