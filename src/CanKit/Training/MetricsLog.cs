using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CanKit.Training;

/// <summary>One logged step.</summary>
public sealed record StepMetrics(long Step, long Epoch, double LearningRate, double Loss, double Contrastive, double Reconstruction,
                                 double Denoise, double ContrastiveTop1, double ImagesPerSecond, double ElapsedSeconds);

/// <summary>Appends step metrics to <c>metrics.jsonl</c> and <c>metrics.csv</c> (flushed per line, so a crash loses nothing written).</summary>
public sealed class MetricsLog : IDisposable
{
    private static readonly string[] Columns = ["step", "epoch", "lr", "loss", "contrastive", "reconstruction", "denoise", "top1", "images_per_s", "elapsed_s"];
    private readonly StreamWriter _jsonl, _csv;

    public MetricsLog(string directory, bool append)
    {
        Directory.CreateDirectory(directory);
        string csv = Path.Combine(directory, "metrics.csv");
        bool header = !append || !File.Exists(csv);
        _jsonl = new StreamWriter(Path.Combine(directory, "metrics.jsonl"), append, Encoding.UTF8) { AutoFlush = true };
        _csv = new StreamWriter(csv, append, Encoding.UTF8) { AutoFlush = true };
        if (header) _csv.WriteLine(string.Join(',', Columns));
    }

    public void Write(StepMetrics m)
    {
        var inv = CultureInfo.InvariantCulture;
        double[] v = [m.Step, m.Epoch, m.LearningRate, m.Loss, m.Contrastive, m.Reconstruction, m.Denoise, m.ContrastiveTop1, m.ImagesPerSecond, m.ElapsedSeconds];
        _csv.WriteLine(string.Join(',', v.Select(x => x.ToString("R", inv))));
        var obj = new Dictionary<string, double>();
        for (int i = 0; i < Columns.Length; i++) obj[Columns[i]] = v[i];
        _jsonl.WriteLine(JsonSerializer.Serialize(obj));
    }

    /// <summary>Reads a metrics.jsonl back (for reports and plots).</summary>
    public static IReadOnlyList<StepMetrics> Read(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l =>
        {
            var d = JsonSerializer.Deserialize<Dictionary<string, double>>(l)!;
            return new StepMetrics((long)d["step"], (long)d["epoch"], d["lr"], d["loss"], d["contrastive"], d["reconstruction"], d["denoise"], d["top1"], d["images_per_s"], d["elapsed_s"]);
        }).ToList();

    public void Dispose()
    {
        _jsonl.Dispose();
        _csv.Dispose();
    }
}
