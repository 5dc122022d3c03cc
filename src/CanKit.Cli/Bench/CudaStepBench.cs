using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using CanKit.Methods;
using CanKit.Optim;
using CanKit.Vision;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench cuda`: the CAN training step on a GPU (ViT-B/16 at 224 px with MAE's 8 × 512 decoder by default,
/// fp32, AdamW) through TorchSharp's CUDA device against the same step in PyTorch eager on the same GPU
/// (torch_can_step.py in a child process), in alternating rounds. Prints ms per step, images/s, achieved TFLOP/s and
/// MFU (model matmul FLOPs ÷ the device's dense fp32 peak). fp32 on both sides: TorchSharp has no autocast, and a
/// comparison is only fair at one precision. `--device cpu` runs the same code without a GPU (a dry run of the command).
/// </summary>
internal static class CudaStepBench
{
    // The paper's mask ratio, as in the CPU bench.
    private const double Mask = StepBench.Mask;

    public static Command Create()
    {
        var device = new Option<string>("--device")
        {
            Description = "cuda, cuda:N, or cpu (a dry run of this bench without a GPU)",
            DefaultValueFactory = _ => "cuda",
        };
        var model = new Option<string>("--model")
        {
            Description = "vit-b16 (224 px, ViT-B/16 encoder, MAE decoder 8 × 512 × 16) or reference (the CPU bench's 32-px step)",
            DefaultValueFactory = _ => "vit-b16",
        };
        var batch = new Option<int>("--batch") { Description = "images per view", DefaultValueFactory = _ => 128 };
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 5 };
        var steps = new Option<int>("--steps") { Description = "steps per round per contender, run back to back", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "untimed steps per contender before the rounds", DefaultValueFactory = _ => 3 };
        var noTorch = new Option<bool>("--no-pytorch") { Description = "skip the PyTorch contender" };
        var python = new Option<string>("--python") { Description = "the python with PyTorch for the eager contender", DefaultValueFactory = _ => "python3" };
        var peak = new Option<double?>("--peak-tflops")
        {
            Description = "the device's dense peak in the chosen precision, for the MFU (default: known GPUs' fp32 peak by name)",
        };
        var precisionOpt = new Option<string>("--precision")
        {
            Description = "fp32 or bf16 (CanKit's precision policy; PyTorch runs bf16 autocast)",
            DefaultValueFactory = _ => "fp32",
        };
        var cmd = new Command("cuda", "the CAN step on a GPU vs PyTorch eager on the same GPU: images/s and MFU")
        {
            device, model, batch, rounds, steps, warmup, noTorch, python, peak, precisionOpt,
        };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(device)!, r.GetValue(model)!, r.GetValue(batch), r.GetValue(rounds), r.GetValue(steps),
            r.GetValue(warmup), !r.GetValue(noTorch), r.GetValue(python)!, r.GetValue(peak), r.GetValue(precisionOpt)!)));
        return cmd;
    }

    /// <summary>The encoder and decoder of a --model name.</summary>
    internal static (VitConfig Encoder, DecoderConfig Decoder, string Description) Model(string name) => name switch
    {
        "vit-b16" => (VitConfig.Base with { ClsToken = false }, DecoderConfig.Mae, "ViT-B/16 at 224 px, decoder 8×512×16"),
        "reference" => (StepBench.Encoder, StepBench.Decoder, "32 px, patch 4, ViT 6×192×3, decoder 2×128×4"),
        _ => throw new ArgumentException($"--model must be vit-b16 or reference (got '{name}')"),
    };

    /// <summary>
    /// Dense fp32 peak (CUDA cores; libtorch runs fp32 matmuls without TF32 by default) in TFLOP/s of the GPUs this
    /// bench knows, by the name CUDA reports (NVIDIA's datasheets); null for others.
    /// </summary>
    internal static double? KnownFp32PeakTflops(string deviceName)
    {
        string n = deviceName.ToUpperInvariant();
        if (n.Contains("H200")) return 67.0;
        if (n.Contains("H100"))
        {
            if (n.Contains("PCIE")) return 51.0;
            if (n.Contains("NVL")) return 60.0;
            return 67.0;   // SXM ("H100 80GB HBM3")
        }
        if (n.Contains("A100")) return 19.5;
        return null;
    }

    private static int Run(string deviceText, string modelName, int batch, int rounds, int steps, int warmup, bool withTorch,
                           string python, double? peakTflops, string precisionName)
    {
        var (enc, dec, description) = Model(modelName);
        if (precisionName is not ("fp32" or "bf16")) throw new ArgumentException($"--precision must be fp32 or bf16 (got '{precisionName}')");
        if (batch < 2) throw new ArgumentException($"--batch must be ≥ 2 (got {batch})");
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {rounds})");
        if (steps < 1) throw new ArgumentException($"--steps must be ≥ 1 (got {steps})");
        if (warmup < 0) throw new ArgumentException($"--warmup must be ≥ 0 (got {warmup})");
        if (peakTflops is <= 0) throw new ArgumentException($"--peak-tflops must be > 0 (got {peakTflops})");
        var dev = Cli.ParseDevice(deviceText);
        string precision = precisionName;
        if (precision == "bf16")
        {
            if (PrecisionPolicy.Bf16Unavailable(dev) is { } why) throw new ArgumentException($"--precision bf16: {why}");
            enc = enc with { Precision = Precision.BFloat16 };
            // The known peaks are fp32: a bf16 MFU needs the bf16 peak, given by hand.
        }

        using var init = new Generator(0);
        using var can = new Can(CanConfig.Paper with { Encoder = enc, Decoder = dec, MaskRatio = Mask }, init);
        can.to(dev);
        using var opt = optim.AdamW(WeightDecayGroups.Split(can, 0.05, "pos_embed", "mask_token"), lr: 1e-4);
        // Views, masks and noise come from a generator on the device.
        using var g = new Generator(1, dev);
        using var v1 = torch.randn([batch, enc.InChannels, enc.ImageSize, enc.ImageSize], generator: g, device: dev);
        using var v2 = torch.randn([batch, enc.InChannels, enc.ImageSize, enc.ImageSize], generator: g, device: dev);
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            can.Forward(v1, v2, g).Loss.backward();
            opt.step();
        }
        void Wait()
        {
            if (dev.type == DeviceType.CUDA) torch.cuda.synchronize(dev);
        }
        double CanKitSteps(int n)
        {
            Wait();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < n; i++) Step();
            Wait();
            return sw.Elapsed.TotalMilliseconds / n;
        }

        using var pytorch = withTorch
            ? TorchStepWorker.Start(python, enc, dec, batch, Mask, torch.get_num_threads(), Cli.DeviceName(dev), precision)
            : null;
        string deviceName = "cpu";
        string torchVersion = "";
        if (pytorch is not null) (torchVersion, deviceName) = pytorch.Info();
        else if (dev.type == DeviceType.CUDA) deviceName = NvidiaSmiName(Math.Max(0, dev.index)) ?? Cli.DeviceName(dev);
        peakTflops ??= dev.type == DeviceType.CUDA && precision == "fp32" ? KnownFp32PeakTflops(deviceName) : null;

        int lv = (int)(enc.NumPatches * (1 - Mask));
        Console.WriteLine($"CAN step on {deviceName} ({Cli.DeviceName(dev)}): {description}, " +
                          $"{batch} images/view, {enc.NumPatches} patches ({lv} visible), mask {Mask}, " +
                          $"{precision}, AdamW; CanKit on {Cli.EngineVersion}" +
                          (pytorch is not null ? $", PyTorch {torchVersion} eager ({python})" : ""));
        if (warmup > 0)
        {
            CanKitSteps(warmup);
            pytorch?.Run(warmup);
        }
        var ck = new List<double>();
        var pt = new List<double>();
        double torchPeakMb = 0;
        for (int r = 0; r < rounds; r++)
        {
            ck.Add(CanKitSteps(steps));
            string line = $"round {r + 1}/{rounds}: CanKit {ck[^1]:F2} ms/step";
            if (pytorch is not null)
            {
                var (ms, mb) = pytorch.Run(steps);
                pt.Add(ms);
                torchPeakMb = mb;
                line += $"  PyTorch {ms:F2} ms/step";
            }
            Console.WriteLine(line);
        }

        double flops = StepBench.Flops(enc, dec, batch, Mask, withDecoder: true);
        Console.WriteLine();
        Console.WriteLine($"model matmul FLOPs per step {flops / 1e12:F3} TFLOP (forward × 3); an image = its two views");
        var table = new MarkdownTable("contender", "ms/step (median)", "images/s", "TFLOP/s", "MFU");
        table.RightAligned.UnionWith([1, 2, 3, 4]);
        void Row(string name, List<double> times)
        {
            double ms = SideBySide.MedianOf(times), tflops = flops / ms / 1e9;
            table.Add(name, $"{ms:F2}", $"{batch * 1000.0 / ms:F1}", $"{tflops:F2}", peakTflops is double p ? $"{tflops / p:P1}" : "—");
        }
        Row("CanKit", ck);
        if (pytorch is not null) Row("PyTorch eager", pt);
        Console.Write(table);
        Console.WriteLine(dev.type == DeviceType.CUDA
            ? "CanKit peak memory: not reported (TorchSharp 0.107 exposes no CUDA allocator statistics)"
            : $"CanKit process peak RSS {MachineInfo.PeakRss() / 1e6:F0} MB (model, AdamW state, activations of one step)");
        Console.WriteLine(peakTflops is double pk
            ? $"MFU against a {pk:F1} TFLOP/s dense {precision} peak" + (dev.type == DeviceType.CUDA ? "" : " (given)")
            : $"MFU: no peak known for '{deviceName}' in {precision}; --peak-tflops gives one");
        if (pytorch is not null)
        {
            double ratio = SideBySide.MedianOf(ck.Zip(pt, (c, t) => t / c));
            Console.WriteLine($"CanKit / PyTorch throughput = {ratio:F3}× (median of per-round ratios; > 1: CanKit faster)");
            Console.WriteLine($"PyTorch peak memory {torchPeakMb:F0} MB " +
                              $"({(dev.type == DeviceType.CUDA ? "CUDA tensors, torch.cuda.max_memory_allocated" : "process RSS")})");
        }
        return 0;
    }

    // The GPU's name from nvidia-smi (when PyTorch is not there to ask), or null.
    private static string? NvidiaSmiName(int index)
    {
        try
        {
            var psi = new ProcessStartInfo("nvidia-smi", $"--query-gpu=name --format=csv,noheader --id={index.ToString(CultureInfo.InvariantCulture)}")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            using var p = Process.Start(psi)!;
            string name = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(5000);
            return p.ExitCode == 0 && name.Length > 0 ? name : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
