using System.CommandLine;
using System.Text.RegularExpressions;
using CanKit.Training;

namespace CanKit.Cli;

/// <summary>`cankit pretrain | probe | knn | export`: one run folder from pre-training to evaluation.</summary>
internal static class RunCommands
{
    private static Option<string> Out(bool required) => new("--out") { Description = "run folder (run.json, checkpoint, metrics)", Required = required, DefaultValueFactory = required ? null! : _ => "runs/can-fashion-mnist" };
    private static Option<string> DeviceOpt() => new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    public static Command Pretrain()
    {
        var method = new Option<string>("--method") { Description = "can, cmae, mae, simclr or an ablation name (cankit ablate --list)", DefaultValueFactory = _ => "can" };
        var data = new Option<string>("--data") { Description = "fashion-mnist, cifar10 or cifar100", DefaultValueFactory = _ => "fashion-mnist" };
        var root = new Option<string?>("--data-root") { Description = "dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist)" };
        var preset = new Option<string>("--preset") { Description = "CAN preset: paper, official or community", DefaultValueFactory = _ => "paper" };
        var steps = new Option<long>("--steps") { Description = "optimiser steps", DefaultValueFactory = _ => 1000 };
        var epochs = new Option<double?>("--epochs") { Description = "train for this many epochs instead of --steps" };
        var minutes = new Option<double?>("--minutes") { Description = "train for about this many minutes instead of --steps (steps are measured, then fixed in run.json)" };
        var batch = new Option<int>("--batch") { Description = "images per step", DefaultValueFactory = _ => 128 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 1e-3 };
        var width = new Option<int>("--width") { Description = "encoder width", DefaultValueFactory = _ => 128 };
        var depth = new Option<int>("--depth") { Description = "encoder blocks", DefaultValueFactory = _ => 4 };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => 4 };
        var patch = new Option<int>("--patch") { Description = "patch size", DefaultValueFactory = _ => 4 };
        var seed = new Option<ulong>("--seed") { Description = "random seed", DefaultValueFactory = _ => 0 };
        var subset = new Option<int>("--train-subset") { Description = "use only the first N training images (0: all)", DefaultValueFactory = _ => 0 };
        var bf16 = new Option<bool>("--bf16") { Description = "bf16 autocast for the forward pass (not available: TorchSharp has no autocast)" };
        var nproc = new Option<int>("--nproc") { Description = "data-parallel worker processes (not available in this version: only 1)", DefaultValueFactory = _ => 1 };
        var device = DeviceOpt();
        var outDir = Out(required: false);
        var cmd = new Command("pretrain", "pre-train an encoder with a self-supervised method (resumes from the run folder's checkpoint)")
            { method, data, root, preset, steps, epochs, minutes, batch, lr, width, depth, heads, patch, seed, subset, bf16, nproc, device, outDir };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var spec = new RunSpec(r.GetValue(method)!, r.GetValue(preset)!, r.GetValue(data)!, r.GetValue(root), r.GetValue(width), r.GetValue(depth),
                r.GetValue(heads), r.GetValue(patch), r.GetValue(batch), r.GetValue(steps), r.GetValue(lr), 0.05, 1.0, r.GetValue(seed), r.GetValue(subset), r.GetValue(bf16));
            Validate(spec);
            Cli.SingleProcess(r.GetValue(nproc));
            var dev = Cli.ParseDevice(r.GetValue(device)!);
            if (r.GetValue(epochs) is not null && r.GetValue(minutes) is not null)
                throw new ArgumentException("--epochs and --minutes: give one of them");
            string outPath = r.GetValue(outDir)!;
            if (File.Exists(Path.Combine(outPath, "run.json")) && (r.GetValue(minutes) is not null || r.GetValue(epochs) is not null))
                spec = spec with { Steps = RunSpec.Load(outPath).Steps };   // resuming: keep the measured length
            else if (r.GetValue(minutes) is { } m)
            {
                if (m <= 0) throw new ArgumentException($"--minutes: must be > 0, got {m}");
                Console.WriteLine($"measuring the step time to fit {m} minutes…");
                spec = spec with { Steps = PretrainRun.StepsForMinutes(spec, dev, m) };
            }
            else if (r.GetValue(epochs) is { } e)
            {
                int count = PretrainRun.LoadTrain(spec).Count;
                spec = spec with { Steps = Math.Max(1, (long)(e * count / spec.BatchSize)) };
            }
            return Pretrain(spec, r.GetValue(outDir)!, dev);
        }));
        return cmd;
    }

    /// <summary>Rejects bad flag values before any data is loaded, naming the flag.</summary>
    internal static void Validate(RunSpec spec)
    {
        if (spec.Preset is not ("paper" or "official" or "community")) throw new ArgumentException($"--preset: unknown preset '{spec.Preset}' (expected paper, official or community)");
        Cli.Flag("--method", () => spec.MethodSpec());
        if (!Datasets.Names.Contains(spec.Dataset)) throw new ArgumentException($"--data: unknown dataset '{spec.Dataset}' (expected {string.Join(", ", Datasets.Names)})");
        if (spec.DataRoot is { } root && !Directory.Exists(root)) throw new ArgumentException($"--data-root: folder '{root}' does not exist");
        foreach (var (flag, value) in new[] { ("--steps", spec.Steps), ("--batch", spec.BatchSize), ("--width", spec.Width), ("--depth", spec.Depth), ("--heads", spec.Heads), ("--patch", spec.PatchSize) })
            if (value <= 0) throw new ArgumentException($"{flag}: must be > 0, got {value}");
        if (spec.LearningRate <= 0) throw new ArgumentException($"--lr: must be > 0, got {spec.LearningRate}");
        if (spec.Width % spec.Heads != 0) throw new ArgumentException($"--heads: {spec.Heads} does not divide --width {spec.Width}");
        // bf16 training needs autocast, which TorchSharp does not have; a cast model without it would lose fp32's
        // accumulation in the loss and optimiser, so the flag is refused rather than half-honoured.
        if (spec.Bf16) throw new ArgumentException("--bf16: not available (TorchSharp has no autocast); train in fp32");
    }

    internal static int Pretrain(RunSpec spec, string outDir, Device device)
    {
        Console.WriteLine($"pretraining {spec.Method} on {spec.Dataset}: {spec.Steps} steps × {spec.BatchSize} images, ViT {spec.Width}×{spec.Depth}, patch {spec.PatchSize}, {Cli.DeviceName(device)}, {torch.get_num_threads()} threads → {outDir}");
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
            Console.Error.WriteLine("interrupt: saving a checkpoint after this step (Ctrl-C again to abort)");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var progress = new ConsoleProgress(spec.Steps, spec.Method);
            var outcome = progress.Run(p => PretrainRun.Pretrain(spec, outDir, device, p, cts.Token, checkpointEvery: 100, logEvery: 10));
            Console.WriteLine(outcome == TrainOutcome.Completed ? $"done: {Path.Combine(outDir, Trainer.CheckpointFile)}" : $"interrupted: resume with the same command");
            return outcome == TrainOutcome.Completed ? 0 : 130;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    public static Command Probe() => EvalCommand("probe", "linear probe of a run's frozen encoder (top-1 on the test split)", knnOnly: false);

    public static Command Knn() => EvalCommand("knn", "weighted k-NN classification with a run's frozen encoder", knnOnly: true);

    private static Command EvalCommand(string name, string description, bool knnOnly)
    {
        var outDir = Out(required: true);
        var device = DeviceOpt();
        var k = new Option<int>("--k") { Description = "neighbours", DefaultValueFactory = _ => 20 };
        var t = new Option<double>("--temperature") { Description = "vote temperature", DefaultValueFactory = _ => 0.07 };
        var epochs = new Option<int>("--epochs") { Description = "probe epochs", DefaultValueFactory = _ => 30 };
        var random = new Option<bool>("--random-init") { Description = "evaluate the same encoder at random initialisation (the baseline)" };
        var cmd = new Command(name, description) { outDir, device, k, t, epochs, random };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var res = PretrainRun.Evaluate(r.GetValue(outDir)!, Cli.ParseDevice(r.GetValue(device)!), r.GetValue(random), r.GetValue(k), r.GetValue(t),
                knnOnly ? 1 : r.GetValue(epochs), new Progress<string>(Console.WriteLine));
            Console.WriteLine(knnOnly ? $"{res.Encoder} {r.GetValue(k)}-NN top-1: {res.KnnTop1:P2}" : $"{res.Encoder} linear probe top-1: {res.ProbeTop1:P2}  ({r.GetValue(k)}-NN: {res.KnnTop1:P2})");
            return 0;
        }));
        return cmd;
    }

    public static Command FineTuneCommand()
    {
        var outDir = Out(required: true);
        var device = DeviceOpt();
        var epochs = new Option<int>("--epochs") { Description = "fine-tuning epochs", DefaultValueFactory = _ => 5 };
        var random = new Option<bool>("--random-init") { Description = "fine-tune the encoder from random initialisation (the baseline)" };
        var subset = new Option<int>("--subset") { Description = "use only the first N training images (0: all)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("finetune", "fine-tune a run's encoder with a linear head end to end (top-1 on the test split)") { outDir, device, epochs, random, subset };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var res = PretrainRun.FineTuneRun(r.GetValue(outDir)!, Cli.ParseDevice(r.GetValue(device)!), r.GetValue(random), r.GetValue(epochs), r.GetValue(subset), new Progress<string>(Console.WriteLine));
            Console.WriteLine($"{(r.GetValue(random) ? "random-init" : "pretrained")} fine-tune top-1 after {res.Epochs} epochs: {res.TestAccuracy:P2}");
            return 0;
        }));
        return cmd;
    }

    public static Command Export()
    {
        var outDir = Out(required: true);
        var file = new Option<string>("--to") { Description = "safetensors file to write (timm parameter names)", Required = true };
        var cmd = new Command("export", "write a run's encoder to safetensors with timm's VisionTransformer names") { outDir, file };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            PretrainRun.ExportEncoder(r.GetValue(outDir)!, r.GetValue(file)!);
            Console.WriteLine($"wrote {r.GetValue(file)}");
            return 0;
        }));
        return cmd;
    }
}

/// <summary>Shared command-line plumbing: device parsing and one place that turns errors into messages.</summary>
internal static class Cli
{
    private static readonly Regex DeviceText = new(@"^(cpu|cuda)(:(\d+))?$", RegexOptions.CultureInvariant);

    /// <summary>
    /// "cpu", "cuda" or "cuda:N" as a TorchSharp device; CUDA only where TorchSharp sees a GPU (a CUDA build of
    /// TorchSharp and a driver), else a one-line error naming the flag.
    /// </summary>
    public static Device ParseDevice(string s, string flag = "--device")
    {
        var m = DeviceText.Match(s.Trim().ToLowerInvariant());
        if (!m.Success) throw new ArgumentException($"{flag} {s}: expected cpu, cuda or cuda:N");
        if (m.Groups[1].Value == "cpu")
        {
            if (m.Groups[3].Success && m.Groups[3].Value != "0") throw new ArgumentException($"{flag} {s}: there is one CPU device (cpu)");
            return torch.CPU;
        }
        if (!torch.cuda.is_available())
            throw new ArgumentException($"{flag} {s}: CUDA is not available (TorchSharp sees no GPU: this build uses TorchSharp-cpu, or no driver; see environment.md)");
        int index = m.Groups[3].Success ? int.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        int count = torch.cuda.device_count();
        if (index >= count) throw new ArgumentException($"{flag} {s}: there {(count == 1 ? "is 1 GPU" : $"are {count} GPUs")} (cuda:0…cuda:{count - 1})");
        return torch.device(DeviceType.CUDA, index);
    }

    /// <summary>The engine for headers of runs and benchmarks: "TorchSharp 0.107.0 (LibTorch 2.10.0)".</summary>
    public static string EngineVersion =>
        $"TorchSharp {typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "?"} (LibTorch {(Version.TryParse(torch.__version__, out var v) ? v.ToString(3) : torch.__version__)})";

    /// <summary>A device as users write it: "cpu", "cuda:0".</summary>
    public static string DeviceName(Device d) => d.type == DeviceType.CPU ? "cpu" : $"{d.type.ToString().ToLowerInvariant()}:{Math.Max(0, d.index)}";

    /// <summary>
    /// Data-parallel training (--nproc) is not available in this version: TorchSharp has no torch.distributed. Anything
    /// but 1 is a one-line error naming the flag; a launcher's WORLD_SIZE above 1 is refused too (exit code 1).
    /// </summary>
    public static void SingleProcess(int nproc, string flag = "--nproc")
    {
        if (nproc < 1) throw new ArgumentException($"{flag}: must be ≥ 1, got {nproc}");
        if (nproc > 1) throw new ArgumentException($"{flag} {nproc}: {DataParallel.Unavailable} (TorchSharp has no torch.distributed); use {flag} 1");
        DataParallel.EnsureSingleProcess();
    }

    /// <summary>Runs <paramref name="check"/>, prefixing an ArgumentException's message with the flag it concerns.</summary>
    public static void Flag(string flag, Action check)
    {
        try
        {
            check();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{flag}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Runs a command body; known user errors become one "error:" line and exit code 1 (2 for bad flags). libtorch's
    /// own errors (TorchSharp raises them as ExternalException) are reported the same way, first line only.
    /// </summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or NonFiniteLossException or NotSupportedException
                                  or System.Runtime.InteropServices.ExternalException)
        {
            Console.Error.WriteLine($"error: {FirstLine(e.Message)}");
            return 1;
        }
        catch (TypeInitializationException e) when (e.TypeName?.StartsWith("TorchSharp", StringComparison.Ordinal) == true)
        {
            Console.Error.WriteLine($"error: TorchSharp could not load its native library: {FirstLine(e.InnerException?.Message ?? e.Message)} (see environment.md)");
            return 1;
        }
    }

    // libtorch's messages carry a C++ backtrace after the first line.
    private static string FirstLine(string message)
    {
        int nl = message.IndexOf('\n');
        return (nl < 0 ? message : message[..nl]).TrimEnd();
    }
}
