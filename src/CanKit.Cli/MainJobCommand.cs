using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using CanKit.Plots;
using CanKit.Training;
using Plotly.NET;
using Plotly.NET.CSharp;
using PlotlyChart = Plotly.NET.CSharp.Chart;

namespace CanKit.Cli;

/// <summary>
/// `cankit main`: the main job. Pre-trains CAN on Fashion-MNIST (or CIFAR-10 with --data cifar10) with the recipe chosen on a validation split
/// (docs/recipe.md), evaluates the encoder by linear probe and 20-NN beside the raw pixels, a supervised reference (the
/// same ViT trained with labels for the same budget) and the same encoder at random initialisation, and writes a report
/// folder (metrics with the online kNN monitor, results, an image grid, an HTML page with curves, the trained model in
/// float16). Exits non-zero if CAN does not beat the raw pixels (the full job) or the random encoder (quick mode).
/// </summary>
internal static class MainJobCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "report folder (default runs/main, runs/main-quick with --quick)" }.NotAFile();
        var steps = new Option<long?>("--steps") { Description = $"pre-training steps (default {Recipe.Steps})" }
            .Must(v => v is not { } x || x >= 1, "must be ≥ 1");
        var quick = new Option<bool>("--quick") { Description = "a 2-minute smoke run (few steps, subsets)" };
        var holdout = new Option<int>("--holdout")
        {
            Description = "hold the last N training images out and score on them instead of the test split (how the recipe was chosen; 0: test split)",
            DefaultValueFactory = _ => 0,
        }.AtLeast(0);
        var precision = RunCommands.PrecisionOpt();
        var data = new Option<string>("--data")
        {
            Description = $"the data set: {string.Join(" or ", Recipes.Keys)} (each with its own recipe, docs/recipe.md)",
            DefaultValueFactory = _ => "fashion-mnist",
        };
        data.AcceptOnlyFromAmong([.. Recipes.Keys]);
        var dataRoot = new Option<string?>("--data-root")
        {
            Description = "folder with the data set's files, or a data root with a fashion-mnist/ or cifar10/ sub-folder; recorded in run.json " +
                          "(default: looked for in $CANKIT_DATA, the per-user data folder and, for Fashion-MNIST, Debian's package; docs/data.md)",
        }.ExistingFolder();
        var board = RunCommands.TensorBoardOpt("the pre-training's losses, learning rate, images/s, monitor and reconstructions");
        var cmd = new Command("main", "pre-train CAN on Fashion-MNIST or CIFAR-10; probe and 20-NN beside raw pixels, " +
                                      "a supervised reference and random init; write a report")
            { outDir, steps, quick, holdout, precision, data, dataRoot, board };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            bool isQuick = r.GetValue(quick);
            string dataset = r.GetValue(data)!;
            string outPath = r.GetValue(outDir) ?? DefaultOut(dataset, isQuick);
            var used = RunCommands.ResolvePrecision(r.GetValue(precision)!, torch.CPU, Path.Combine(outPath, "run"));
            var spec = Spec(isQuick, r.GetValue(steps), used, r.GetValue(holdout), r.GetValue(dataRoot), dataset);
            return Run(outPath, spec, isQuick, r.GetValue(board));
        }, RunCommands.Flags));
        return cmd;
    }

    /// <summary>The model file the job writes into its report folder.</summary>
    public static string ModelFile(string dataset) => $"can-{dataset}.safetensors";

    /// <summary>The report folder without --out: runs/main for Fashion-MNIST, runs/main-cifar10 for CIFAR-10; quick mode adds -quick.</summary>
    internal static string DefaultOut(string dataset, bool quick) =>
        "runs/main" + (dataset == "fashion-mnist" ? "" : $"-{dataset}") + (quick ? "-quick" : "");

    /// <summary>
    /// The main job's recipe, chosen on a validation split of the training images (docs/recipe.md says what each choice
    /// bought): CAN's paper preset on a ViT 128×4 with 7-px patches (16 tokens: 2–3× the speed of 4-px patches and a better
    /// encoder at the same steps), gentler crops (0.35–1 of the image) and no blur for 28-px images.
    /// </summary>
    internal static RunSpec Recipe => new("can", "paper", "fashion-mnist", null, Width: 128, Depth: 4, Heads: 4, PatchSize: 7, BatchSize: 128,
        Steps: 4000, LearningRate: 1e-3, WeightDecay: 0.05, ClipNorm: 1.0, Seed: 0, TrainSubset: 0, Can: new Methods.CanOverrides(CropMin: 0.35, BlurP: 0));

    /// <summary>
    /// The CIFAR-10 recipe, chosen on the last 10 000 training images held out (docs/recipe-cifar10.md says what each choice
    /// bought): the same ViT 128×4 on 8-px patches (16 tokens; 4-px patches cost 3× the time per step), the contrastive
    /// weight raised from the paper preset's 0.03 to 0.1, no blur, 5000 steps.
    /// </summary>
    internal static RunSpec CifarRecipe => new("can", "paper", "cifar10", null, Width: 128, Depth: 4, Heads: 4, PatchSize: 8, BatchSize: 128,
        Steps: 5000, LearningRate: 1e-3, WeightDecay: 0.05, ClipNorm: 1.0, Seed: 0, TrainSubset: 0,
        Can: new Methods.CanOverrides(ContrastiveWeight: 0.1, ReconstructionWeight: 0.67, DenoiseWeight: 0.3, BlurP: 0));

    /// <summary>The data sets the job runs on, each with its recipe.</summary>
    internal static readonly IReadOnlyDictionary<string, RunSpec> Recipes = new Dictionary<string, RunSpec>
    {
        ["fashion-mnist"] = Recipe, ["cifar10"] = CifarRecipe,
    };

    /// <summary>
    /// The frozen features the probe and kNN read: the mean patch token of each of the encoder's last this-many blocks,
    /// concatenated (DINO's linear evaluation of a ViT; chosen on the validation split, docs/recipe.md). The same for the
    /// random-init and supervised rows.
    /// </summary>
    internal const int FeatureBlocks = 4;

    /// <summary>Quick mode's steps: enough for the encoder to beat its random initialisation on both scores.</summary>
    internal const int QuickSteps = 150;

    /// <summary>Steps between two measurements of the online kNN monitor.</summary>
    internal const int MonitorEvery = 250;

    /// <summary>
    /// The recipe with this invocation's settings. <paramref name="dataRoot"/> is recorded as the user gave it; without one
    /// <c>DataRoot</c> stays null (the data is looked for when loaded, and run.json keeps the fingerprint it always had).
    /// </summary>
    internal static RunSpec Spec(bool quick, long? steps, Vision.Precision precision, int holdout, string? dataRoot = null,
                                 string dataset = "fashion-mnist") =>
        Recipes[dataset] with
        {
            Steps = quick ? QuickSteps : steps ?? Recipes[dataset].Steps, TrainSubset = quick ? 4096 : 0, Precision = precision, Holdout = holdout,
            DataRoot = dataRoot,
        };

    private static int Run(string outDir, RunSpec spec, bool quick, string? tensorBoard)
    {
        var started = DateTime.UtcNow;
        string runDir = Path.Combine(outDir, "run");
        int rc = RunCommands.Pretrain(spec, runDir, torch.CPU, monitorEvery: quick ? 50 : MonitorEvery, tensorBoard: tensorBoard);
        if (rc != 0) return rc;
        double trainMinutes = (DateTime.UtcNow - started).TotalMinutes;

        var log = StatusLine.ForConsole().Lines;
        var train = PretrainRun.LoadTrain(spec);
        int subset = quick ? 6000 : 0, epochs = quick ? 5 : 30;
        var can = RunEvaluation.Evaluate(runDir, torch.CPU, randomInit: false, probeEpochs: epochs, log: log, evalSubset: subset, lastBlocks: FeatureBlocks);
        var pixels = RunEvaluation.EvaluatePixels(runDir, probeEpochs: epochs, log: log, evalSubset: subset);
        var rnd = RunEvaluation.Evaluate(runDir, torch.CPU, randomInit: true, probeEpochs: epochs, log: log, evalSubset: subset, lastBlocks: FeatureBlocks);
        var sup = RunEvaluation.EvaluateSupervised(runDir, torch.CPU, probeEpochs: epochs, log: log, evalSubset: subset, lastBlocks: FeatureBlocks);
        var heldOut = RunEvaluation.HeldOutLosses(runDir, quick ? 256 : 1024);
        double minutes = (DateTime.UtcNow - started).TotalMinutes;

        // The whole trained model in float16 with run.json inside: what PretrainedModel.Load reads (the course's notebooks/pretrained/).
        string model = Path.Combine(outDir, ModelFile(spec.Dataset));
        RunExport.ExportModel(runDir, model);
        var inv = CultureInfo.InvariantCulture;
        string split = spec.Holdout > 0 ? $"the {spec.Holdout} held-out training images (validation)" : "the test split";
        string table = "| encoder | linear probe top-1 | 20-NN top-1 |\n|---|---|---|\n" +
                       $"| CAN ({spec.Steps} steps{(spec.Precision == Vision.Precision.BFloat16 ? ", bf16 policy" : "")}) " +
                       $"| {can.ProbeTop1:P2} | {can.KnnTop1:P2} |\n" +
                       $"| raw pixels | {pixels.ProbeTop1:P2} | {pixels.KnnTop1:P2} |\n" +
                       $"| supervised, same ViT and budget (its own head: {sup.HeadTop1:P2}) | {sup.Frozen.ProbeTop1:P2} | {sup.Frozen.KnnTop1:P2} |\n" +
                       $"| random init | {rnd.ProbeTop1:P2} | {rnd.KnnTop1:P2} |\n";
        IO.WriteFault.WriteAllText(Path.Combine(outDir, "results.md"),
            $"# CanKit main job\n\nCAN pre-trained on {train.Name} ({train.Count} images) for {spec.Steps} steps of {spec.BatchSize} images " +
            $"(ViT {spec.Width}×{spec.Depth}, patch {spec.PatchSize}), " +
            $"{torch.get_num_threads()} CPU threads; pre-training {trainMinutes.ToString("F1", inv)} minutes, {minutes.ToString("F1", inv)} minutes in all. " +
            $"Scored on {split}: linear probe (AdamW, {epochs} epochs, standardised features) and weighted 20-NN (cosine, T = 0.07) of the frozen " +
            $"features (the mean patch token of each of the last {FeatureBlocks} blocks, concatenated: {can.Dim} numbers per image); the raw pixels " +
            $"({pixels.Dim} numbers per image) go through the same probe and kNN.\n\n{table}\n" +
            $"On {heldOut.Images} images of {split}, reconstruction {heldOut.Reconstruction.ToString("F3", inv)} " +
            $"against {heldOut.ReconstructionPredictMean.ToString("F3", inv)} " +
            $"for predicting each masked patch's mean; denoising {heldOut.Denoise.ToString("E2", inv)} " +
            $"against {heldOut.DenoisePredictZero.ToString("E2", inv)} for " +
            $"predicting no noise ({(heldOut.Denoise / heldOut.DenoisePredictZero).ToString("F2", inv)}×), " +
            "the predicted noise's correlation with the true noise " +
            $"{heldOut.NoiseCorrelation.ToString("F3", inv)} (docs/recipe.md, \"The denoising term\").\n\n" +
            $"The trained model (every weight, float16, run.json in its metadata): `{ModelFile(spec.Dataset)}`, " +
            $"{(new FileInfo(model).Length / 1e6).ToString("F2", inv)} MB " +
            "(`PretrainedModel.Load`; `cankit export --what model` writes the same from any run).\n");
        IO.WriteFault.WriteAllText(Path.Combine(outDir, "results.csv"),
            "encoder,probe_top1,knn_top1\n" + string.Create(inv,
                $"can,{can.ProbeTop1},{can.KnnTop1}\npixels,{pixels.ProbeTop1},{pixels.KnnTop1}\n" +
                $"supervised,{sup.Frozen.ProbeTop1},{sup.Frozen.KnnTop1}\nrandom-init,{rnd.ProbeTop1},{rnd.KnnTop1}\n"));
        if (Data.ImageCodec.HasPng) RunExport.SaveReconstructions(runDir, Path.Combine(outDir, "reconstructions.png"));
        else Console.WriteLine("note: no PNG codec (SkiaSharp's native library did not load; see environment.md); skipping reconstructions.png");
        WriteHtml(outDir, runDir, table, Evaluation.KnnMonitor.FromTraining(train).PixelTop1());
        Console.WriteLine();
        Console.WriteLine(table);

        // The job's own check. The full job must beat the raw pixels on both measures (what self-supervision is for) and the
        // random encoder clearly; quick mode's steps learn too little to beat pixels, so quick mode checks against random init only.
        var (bar, name, margin) = quick ? (rnd, "random init", 0.0) : (pixels, "raw pixels", 0.0);
        bool ok = can.ProbeTop1 > bar.ProbeTop1 + margin && can.KnnTop1 > bar.KnnTop1 + margin
                  && (quick || (can.ProbeTop1 > rnd.ProbeTop1 + 0.02 && can.KnnTop1 > rnd.KnnTop1 + 0.02));
        Console.WriteLine(ok ? $"check passed: CAN beats {name} by {(can.ProbeTop1 - bar.ProbeTop1) * 100:F1} (probe) and " +
                               $"{(can.KnnTop1 - bar.KnnTop1) * 100:F1} (20-NN) points; report in {outDir}"
                             : $"check FAILED: CAN probe {can.ProbeTop1:P2} / 20-NN {can.KnnTop1:P2} " +
                               $"vs {name} {bar.ProbeTop1:P2} / {bar.KnnTop1:P2} (random init {rnd.ProbeTop1:P2} / {rnd.KnnTop1:P2})");
        return ok ? 0 : 1;
    }

    private static void WriteHtml(string outDir, string runDir, string table, double monitorPixels)
    {
        var m = MetricsLog.Read(Path.Combine(runDir, "metrics.jsonl"));
        var x = m.Select(e => (double)e.Step).ToArray();
        GenericChart Lines(string y, params (string Name, Func<StepMetrics, double> Value)[] series) =>
            PlotlyChart.Combine(series.Select(s => PlotlyChart.Line<double, double, string>(x: x, y: m.Select(s.Value), Name: s.Name)))
                       .WithAxisTitles("step", y);
        var losses = PlotlyChart.Grid([Lines("weighted total", ("total", e => e.Loss)),
                                       Lines("term", ("contrastive", e => e.Contrastive), ("reconstruction", e => e.Reconstruction),
                                             ("denoise", e => e.Denoise))], 1, 2)
            .WithTitle("Pre-training losses").WithSize(1100, 420);
        var lr = PlotlyChart.Grid([Lines("learning rate", ("lr", e => e.LearningRate)),
                                   Lines("top-1 of the positive pair", ("top-1", e => e.ContrastiveTop1))], 1, 2)
            .WithTitle("Learning rate and contrastive top-1").WithSize(1100, 420);
        var monitored = m.Where(e => e.HasKnn).ToList();
        double[] ends = monitored.Count > 0 ? [0, monitored[^1].Step] : [];
        var knn = PlotlyChart.Combine([
                PlotlyChart.Line<double, double, string>(x: monitored.Select(e => (double)e.Step), y: monitored.Select(e => e.KnnTop1),
                                                         Name: "CAN encoder", ShowMarkers: true),
                PlotlyChart.Line<double, double, string>(x: ends, y: ends.Select(_ => monitorPixels), Name: "raw pixels")])
            .WithAxisTitles("step", "20-NN top-1").WithTitle("Online kNN monitor (1000 training images against 5000 others)").WithSize(1100, 420);
        var body = new StringBuilder("<p>Linear probe and kNN on frozen features (test split):</p>\n" +
                                     "<table><tr><th>encoder</th><th>linear probe</th><th>20-NN</th></tr>\n");
        foreach (var row in table.Split('\n').Skip(2).Where(l => l.StartsWith("| ")))
        {
            var cells = row.Trim('|', ' ').Split('|').Select(c => WebUtility.HtmlEncode(c.Trim()));
            body.Append("<tr>").Append(string.Concat(cells.Select(c => $"<td>{c}</td>"))).Append("</tr>\n");
        }
        body.Append("</table>\n");
        if (File.Exists(Path.Combine(outDir, "reconstructions.png")))
            body.Append("<p>Originals, masked noisy inputs, reconstructions and predicted noise:</p>" +
                        "<img src=\"reconstructions.png\" style=\"width:720px;image-rendering:pixelated\">\n");
        IO.WriteFault.WriteAllText(Path.Combine(outDir, "report.html"),
                          ChartHtml.Page("CanKit main job", body.ToString(), monitored.Count > 0 ? [losses, lr, knn] : [losses, lr]));
    }
}
