using System.CommandLine;
using System.Globalization;
using System.Text;
using CanKit.Methods;
using CanKit.Plots;
using CanKit.Training;
using Plotly.NET.CSharp;
using PlotlyChart = Plotly.NET.CSharp.Chart;

namespace CanKit.Cli;

/// <summary>
/// `cankit ablate`: the CAN paper's ablation suite at one budget — MAE, SimCLR, masked-contrastive only, CAN
/// without noise, noise as augmentation only, CAN without the σ embedding, CAN, CMAE, CMAE with InfoNCE weight 1,
/// CMAE shifted by a share of the image — each pre-trained into its own folder (resumable), then probed; writes
/// ablation.md, ablation.csv and ablation.html.
/// </summary>
internal static class AblateCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "fashion-mnist, cifar10 or cifar100", DefaultValueFactory = _ => "fashion-mnist" };
        var root = new Option<string?>("--data-root") { Description = "dataset folder" };
        var steps = new Option<long>("--steps") { Description = "pre-training steps per method (the shared budget)", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch") { Description = "images per step", DefaultValueFactory = _ => 128 };
        var outDir = new Option<string>("--out") { Description = "folder for the runs and the table", DefaultValueFactory = _ => "runs/ablate" }.NotAFile();
        var only = new Option<string[]>("--only") { Description = "run only these entries", AllowMultipleArgumentsPerToken = true };
        var list = new Option<bool>("--list") { Description = "list the suite and exit" };
        var subset = new Option<int>("--train-subset") { Description = "use only the first N training images (0: all)", DefaultValueFactory = _ => 0 };
        var epochs = new Option<int>("--probe-epochs") { Description = "linear-probe epochs", DefaultValueFactory = _ => 30 }.AtLeast(1);
        var cmd = new Command("ablate", "run the ablation suite at one budget and write a comparison table and plot") { data, root, steps, batch, outDir, only, list, subset, epochs };
        cmd.SetAction(r => Cli.Guard(() =>
        {
            var suite = MethodSpec.AblationSuite();
            if (r.GetValue(list))
            {
                foreach (var s in suite) Console.WriteLine($"{s.Name,-24} {s.Kind}");
                return 0;
            }
            var names = r.GetValue(only) ?? [];
            var unknown = names.Where(n => suite.All(s => s.Name != n)).ToList();
            if (unknown.Count > 0) throw new ArgumentException($"--only: unknown entries {string.Join(", ", unknown)} (see --list)");
            var chosen = names.Length == 0 ? suite : suite.Where(s => names.Contains(s.Name)).ToList();
            // Every entry's run is checked before the first one starts, so a bad flag never leaves a half-made suite.
            foreach (var s in chosen) RunCommands.Validate(Spec(s, r.GetValue(data)!, r.GetValue(root), r.GetValue(steps), r.GetValue(batch), r.GetValue(subset)));
            return Run(chosen, r.GetValue(data)!, r.GetValue(root), r.GetValue(steps), r.GetValue(batch), r.GetValue(outDir)!, r.GetValue(subset), r.GetValue(epochs));
        }, RunCommands.Flags));
        return cmd;
    }

    private static RunSpec Spec(MethodSpec s, string data, string? root, long steps, int batch, int subset) =>
        new(s.Name, "paper", data, root, 128, 4, 4, 4, batch, steps, 1e-3, 0.05, 1.0, 0, subset);

    private static int Run(IReadOnlyList<MethodSpec> suite, string data, string? root, long steps, int batch, string outDir, int subset, int probeEpochs)
    {
        var rows = new List<(string Name, EvalResult Result, double Seconds)>();
        foreach (var s in suite)
        {
            var spec = Spec(s, data, root, steps, batch, subset);
            string dir = Path.Combine(outDir, s.Name);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int rc = RunCommands.Pretrain(spec, dir, torch.CPU);
            if (rc != 0) return rc;
            var res = PretrainRun.Evaluate(dir, torch.CPU, probeEpochs: probeEpochs, log: new Progress<string>(Console.WriteLine));
            rows.Add((s.Name, res, clock.Elapsed.TotalSeconds));
            Console.WriteLine($"{s.Name}: probe {res.ProbeTop1:P2}, kNN {res.KnnTop1:P2}");
        }
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder($"# Ablation at {steps} steps × {batch} images on {data}\n\n| method | linear probe top-1 | 20-NN top-1 | minutes |\n|---|---|---|---|\n");
        var csv = new StringBuilder("method,probe_top1,knn_top1,seconds\n");
        foreach (var (name, res, sec) in rows)
        {
            md.Append(string.Create(inv, $"| {name} | {res.ProbeTop1:P2} | {res.KnnTop1:P2} | {sec / 60:F1} |\n"));
            csv.Append(string.Create(inv, $"{name},{res.ProbeTop1},{res.KnnTop1},{sec:F1}\n"));
        }
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "ablation.md"), md.ToString());
        File.WriteAllText(Path.Combine(outDir, "ablation.csv"), csv.ToString());
        var fig = PlotlyChart.Combine([
                PlotlyChart.Column<double, string, string>(rows.Select(r => r.Result.ProbeTop1), Keys: rows.Select(r => r.Name).ToArray(), Name: "linear probe"),
                PlotlyChart.Column<double, string, string>(rows.Select(r => r.Result.KnnTop1), Keys: rows.Select(r => r.Name).ToArray(), Name: "20-NN")])
            .WithTitle("Ablation: top-1 on frozen features").WithAxisTitles("method", "top-1").WithSize(1000, 480);
        File.WriteAllText(Path.Combine(outDir, "ablation.html"), ChartHtml.Page("CanKit ablation", $"<pre>{System.Net.WebUtility.HtmlEncode(md.ToString())}</pre>", [fig]));
        Console.WriteLine(md);
        return 0;
    }
}
