using System.CommandLine;
using CanKit.Distributed;
using CanKit.Training;

namespace CanKit.Cli;

// The commands that read a run folder: probe, knn, losses, fine-tune and export.
internal static partial class RunCommands
{
    public static Command Probe() => EvalCommand("probe", "linear probe of a run's frozen encoder (top-1 on the test split)", knnOnly: false);

    public static Command Knn() => EvalCommand("knn", "weighted k-NN classification with a run's frozen encoder", knnOnly: true);

    private static Command EvalCommand(string name, string description, bool knnOnly)
    {
        var outDir = Out(required: true);
        var device = DeviceOpt();
        var k = new Option<int>("--k") { Description = "neighbours (at most the number of training images)", DefaultValueFactory = _ => 20 }.AtLeast(1);
        var t = new Option<double>("--temperature") { Description = "vote temperature", DefaultValueFactory = _ => 0.07 }.PositiveFinite();
        var epochs = new Option<int>("--epochs") { Description = "probe epochs", DefaultValueFactory = _ => 30 }.AtLeast(1);
        var random = new Option<bool>("--random-init") { Description = "evaluate the same encoder at random initialisation (the baseline)" };
        var pixels = new Option<bool>("--pixels")
        {
            Description = "evaluate the raw pixels of the run's splits as the encoder (the line any encoder must clear)",
        };
        var blocks = new Option<int>("--blocks")
        {
            Description = "features: the mean patch token of each of the encoder's last N blocks, concatenated (1: the last block's)",
            DefaultValueFactory = _ => 1,
        }.AtLeast(1);
        var cmd = new Command(name, description) { outDir, device, k, t, epochs, random, pixels, blocks };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            if (r.GetValue(random) && r.GetValue(pixels)) throw new ArgumentException("--random-init and --pixels: give one of them");
            var res = r.GetValue(pixels)
                ? RunEvaluation.EvaluatePixels(r.GetValue(outDir)!, r.GetValue(k), r.GetValue(t), knnOnly ? 1 : r.GetValue(epochs),
                    StatusLine.ForConsole().Lines)
                : RunEvaluation.Evaluate(r.GetValue(outDir)!, Cli.ParseDevice(r.GetValue(device)!), r.GetValue(random), r.GetValue(k), r.GetValue(t),
                    knnOnly ? 1 : r.GetValue(epochs), StatusLine.ForConsole().Lines, lastBlocks: r.GetValue(blocks));
            Console.WriteLine(knnOnly
                ? $"{res.Encoder} {r.GetValue(k)}-NN top-1: {res.KnnTop1:P2}"
                : $"{res.Encoder} linear probe top-1: {res.ProbeTop1:P2}  ({r.GetValue(k)}-NN: {res.KnnTop1:P2})");
            return 0;
        }, Flags));
        return cmd;
    }

    public static Command Losses()
    {
        var outDir = Out(required: true);
        var count = new Option<int>("--count") { Description = "images of the evaluation split to measure on", DefaultValueFactory = _ => 1024 }.AtLeast(1);
        var cmd = new Command("losses", "a CAN run's reconstruction and denoising losses on held-out images, " +
                                        "beside predicting the patch mean and predicting no noise") { outDir, count };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var l = RunEvaluation.HeldOutLosses(r.GetValue(outDir)!, r.GetValue(count));
            Console.WriteLine($"on {l.Images} held-out images: reconstruction {l.Reconstruction:F4} " +
                              $"(predict the patch mean: {l.ReconstructionPredictMean:F4}, " +
                              $"ratio {l.Reconstruction / l.ReconstructionPredictMean:F3}); " +
                              $"denoising {l.Denoise:E3} (predict no noise: {l.DenoisePredictZero:E3}, " +
                              $"ratio {l.Denoise / l.DenoisePredictZero:F3}); noise correlation {l.NoiseCorrelation:F3}");
            return 0;
        }, Flags));
        return cmd;
    }

    public static Command FineTuneCommand()
    {
        var outDir = Out(required: true);
        var device = DeviceOpt();
        var epochs = new Option<int>("--epochs") { Description = "fine-tuning epochs", DefaultValueFactory = _ => 5 }.AtLeast(1);
        var random = new Option<bool>("--random-init") { Description = "fine-tune the encoder from random initialisation (the baseline)" };
        var subset = new Option<int>("--subset") { Description = "use only the first N training images (0: all)", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var cmd = new Command("finetune", "fine-tune a run's encoder with a linear head end to end (top-1 on the test split)")
            { outDir, device, epochs, random, subset };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var res = RunEvaluation.FineTuneRun(r.GetValue(outDir)!, Cli.ParseDevice(r.GetValue(device)!), r.GetValue(random),
                                                r.GetValue(epochs), r.GetValue(subset), StatusLine.ForConsole().Lines);
            Console.WriteLine($"{(r.GetValue(random) ? "random-init" : "pretrained")} fine-tune top-1 after {res.Epochs} epochs: {res.TestAccuracy:P2}");
            return 0;
        }, Flags));
        return cmd;
    }

    public static Command Export()
    {
        var outDir = Out(required: true);
        var file = new Option<string>("--to") { Description = "safetensors file to write (replaces only an earlier export)", Required = true };
        var what = new Option<string>("--what")
        {
            Description = "encoder: the encoder alone, float32, timm's parameter names; model: the whole method (encoder, heads, decoder, σ MLP), " +
                          "float16, with run.json and the step in the metadata (PretrainedModel.Load reads it)",
            DefaultValueFactory = _ => "encoder",
        }.Must(v => v is "encoder" or "model", "expected encoder or model");
        var cmd = new Command("export", "write a run's encoder (timm's VisionTransformer names) " +
                                        "or its whole model (float16) to safetensors") { outDir, file, what };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            if (r.GetValue(what) == "model") RunExport.ExportModel(r.GetValue(outDir)!, r.GetValue(file)!);
            else RunExport.ExportEncoder(r.GetValue(outDir)!, r.GetValue(file)!);
            Console.WriteLine($"wrote {r.GetValue(file)} ({r.GetValue(what)}, {new FileInfo(r.GetValue(file)!).Length / 1e6:F2} MB)");
            return 0;
        }));
        return cmd;
    }
}
