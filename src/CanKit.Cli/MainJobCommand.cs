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
/// `cankit main`: the main job. Pre-trains CAN on Fashion-MNIST (about a quarter of an hour on 2 CPU cores),
/// evaluates the encoder by linear probe and kNN against the same encoder at random initialisation, and writes a
/// report folder (metrics, results, an image grid, an HTML page with loss curves, the trained model in float16).
/// Exits non-zero if CAN does not beat the random encoder clearly.
/// </summary>
internal static class MainJobCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "report folder", DefaultValueFactory = _ => "runs/main" }.NotAFile();
        var steps = new Option<long>("--steps") { Description = "pre-training steps", DefaultValueFactory = _ => 1500 }.AtLeast(1);
        var quick = new Option<bool>("--quick") { Description = "a 2-minute smoke run (few steps, subsets)" };
        var precision = RunCommands.PrecisionOpt();
        var cmd = new Command("main", "pre-train CAN on Fashion-MNIST, probe and kNN against random init, write a report") { outDir, steps, quick, precision };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            string outPath = r.GetValue(outDir)!;
            bool bf16 = RunCommands.ResolvePrecision(r.GetValue(precision)!, torch.CPU, Path.Combine(outPath, "run")) == Vision.Precision.BFloat16;
            return Run(outPath, r.GetValue(quick) ? 30 : r.GetValue(steps), r.GetValue(quick), bf16);
        }));
        return cmd;
    }

    /// <summary>The model file the job writes into its report folder.</summary>
    public const string ModelFile = "can-fashion-mnist.safetensors";

    private static int Run(string outDir, long steps, bool quick, bool bf16)
    {
        var started = DateTime.UtcNow;
        var spec = new RunSpec("can", "paper", "fashion-mnist", null, Width: 128, Depth: 4, Heads: 4, PatchSize: 4, BatchSize: 128,
            Steps: steps, LearningRate: 1e-3, WeightDecay: 0.05, ClipNorm: 1.0, Seed: 0, TrainSubset: quick ? 4096 : 0, Bf16: bf16);
        string runDir = Path.Combine(outDir, "run");
        int rc = RunCommands.Pretrain(spec, runDir, torch.CPU);
        if (rc != 0) return rc;

        var log = new Progress<string>(s => Console.WriteLine(s));
        int subset = quick ? 6000 : 0, epochs = quick ? 5 : 30;
        var can = PretrainRun.Evaluate(runDir, torch.CPU, randomInit: false, probeEpochs: epochs, log: log, evalSubset: subset);
        var rnd = PretrainRun.Evaluate(runDir, torch.CPU, randomInit: true, probeEpochs: epochs, log: log, evalSubset: subset);
        double minutes = (DateTime.UtcNow - started).TotalMinutes;

        // The whole trained model in float16 with run.json inside: what PretrainedModel.Load reads (the course's notebooks/pretrained/).
        string model = Path.Combine(outDir, ModelFile);
        PretrainRun.ExportModel(runDir, model);
        var inv = CultureInfo.InvariantCulture;
        string table = "| encoder | linear probe top-1 | 20-NN top-1 |\n|---|---|---|\n" +
                       $"| CAN ({steps} steps{(bf16 ? ", bf16 policy" : "")}) | {can.ProbeTop1:P2} | {can.KnnTop1:P2} |\n| random init | {rnd.ProbeTop1:P2} | {rnd.KnnTop1:P2} |\n";
        File.WriteAllText(Path.Combine(outDir, "results.md"),
            $"# CanKit main job\n\nCAN pre-trained on Fashion-MNIST for {steps} steps of {spec.BatchSize} images (ViT {spec.Width}×{spec.Depth}, patch {spec.PatchSize}), " +
            $"{torch.get_num_threads()} CPU threads, {minutes.ToString("F1", inv)} minutes in all.\n\n{table}\n" +
            $"The trained model (every weight, float16, run.json in its metadata): `{ModelFile}`, {(new FileInfo(model).Length / 1e6).ToString("F2", inv)} MB " +
            "(`PretrainedModel.Load`; `cankit export --what model` writes the same from any run).\n");
        File.WriteAllText(Path.Combine(outDir, "results.csv"),
            "encoder,probe_top1,knn_top1\n" + string.Create(inv, $"can,{can.ProbeTop1},{can.KnnTop1}\nrandom-init,{rnd.ProbeTop1},{rnd.KnnTop1}\n"));
        if (Data.ImageCodec.HasPng) PretrainRun.SaveReconstructions(runDir, Path.Combine(outDir, "reconstructions.png"));
        else Console.WriteLine("note: no PNG codec (SkiaSharp's native library did not load; see environment.md); skipping reconstructions.png");
        WriteHtml(outDir, runDir, table);
        Console.WriteLine();
        Console.WriteLine(table);

        // The job's own check: pre-training must beat the random encoder clearly on both measures.
        double margin = quick ? 0.0 : 0.02;
        bool ok = can.ProbeTop1 > rnd.ProbeTop1 + margin && can.KnnTop1 > rnd.KnnTop1 + margin;
        Console.WriteLine(ok ? $"check passed: CAN beats random init by {(can.ProbeTop1 - rnd.ProbeTop1) * 100:F1} (probe) and {(can.KnnTop1 - rnd.KnnTop1) * 100:F1} (kNN) points; report in {outDir}"
                             : $"check FAILED: CAN probe {can.ProbeTop1:P2} / kNN {can.KnnTop1:P2} vs random {rnd.ProbeTop1:P2} / {rnd.KnnTop1:P2}");
        return ok ? 0 : 1;
    }

    private static void WriteHtml(string outDir, string runDir, string table)
    {
        var m = MetricsLog.Read(Path.Combine(runDir, "metrics.jsonl"));
        var x = m.Select(e => (double)e.Step).ToArray();
        GenericChart Lines(string y, params (string Name, Func<StepMetrics, double> Value)[] series) =>
            PlotlyChart.Combine(series.Select(s => PlotlyChart.Line<double, double, string>(x: x, y: m.Select(s.Value), Name: s.Name))).WithAxisTitles("step", y);
        var losses = PlotlyChart.Grid([Lines("weighted total", ("total", e => e.Loss)),
                                       Lines("term", ("contrastive", e => e.Contrastive), ("reconstruction", e => e.Reconstruction), ("denoise", e => e.Denoise))], 1, 2)
            .WithTitle("Pre-training losses").WithSize(1100, 420);
        var lr = PlotlyChart.Grid([Lines("learning rate", ("lr", e => e.LearningRate)), Lines("top-1 of the positive pair", ("top-1", e => e.ContrastiveTop1))], 1, 2)
            .WithTitle("Learning rate and contrastive top-1").WithSize(1100, 420);
        var body = new StringBuilder("<p>Linear probe and kNN on frozen features (test split):</p>\n<table><tr><th>encoder</th><th>linear probe</th><th>20-NN</th></tr>\n");
        foreach (var row in table.Split('\n').Skip(2).Where(l => l.StartsWith("| ")))
        {
            var cells = row.Trim('|', ' ').Split('|').Select(c => WebUtility.HtmlEncode(c.Trim()));
            body.Append("<tr>").Append(string.Concat(cells.Select(c => $"<td>{c}</td>"))).Append("</tr>\n");
        }
        body.Append("</table>\n");
        if (File.Exists(Path.Combine(outDir, "reconstructions.png")))
            body.Append("<p>Originals, masked noisy inputs, reconstructions and predicted noise:</p><img src=\"reconstructions.png\" style=\"width:720px;image-rendering:pixelated\">\n");
        File.WriteAllText(Path.Combine(outDir, "report.html"), ChartHtml.Page("CanKit main job", body.ToString(), [losses, lr]));
    }
}
