using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CanKit.Training;

/// <summary>One logged step. <see cref="KnnTop1"/> is the online kNN monitor's top-1, NaN on steps it did not measure.</summary>
public sealed record StepMetrics(long Step, long Epoch, double LearningRate, double Loss, double Contrastive, double Reconstruction,
                                 double Denoise, double ContrastiveTop1, double ImagesPerSecond, double ElapsedSeconds, double KnnTop1 = double.NaN)
{
    public bool HasKnn => !double.IsNaN(KnnTop1);
}

/// <summary>
/// Appends step metrics to <c>metrics.jsonl</c> and <c>metrics.csv</c> (flushed per line, so a crash loses nothing written),
/// in UTF-8 without a byte-order mark, so Python's <c>json.loads</c> and <c>csv.DictReader</c> read them as they are. Files
/// of older versions begin with one; they are read past it, and appending to them adds no second one.
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private static readonly UTF8Encoding NoBom = new(encoderShouldEmitUTF8Identifier: false);
    private static readonly string[] Columns =
        ["step", "epoch", "lr", "loss", "contrastive", "reconstruction", "denoise", "top1", "images_per_s", "elapsed_s", "knn_top1"];
    private readonly StreamWriter _jsonl, _csv;

    public MetricsLog(string directory, bool append)
    {
        Directory.CreateDirectory(directory);
        string csv = Path.Combine(directory, "metrics.csv");
        bool header = !append || !File.Exists(csv);
        _jsonl = new StreamWriter(Path.Combine(directory, "metrics.jsonl"), append, NoBom) { AutoFlush = true };
        _csv = new StreamWriter(csv, append, NoBom) { AutoFlush = true };
        if (header) _csv.WriteLine(string.Join(',', Columns));
    }

    public void Write(StepMetrics m)
    {
        var inv = CultureInfo.InvariantCulture;
        double[] v = [m.Step, m.Epoch, m.LearningRate, m.Loss, m.Contrastive, m.Reconstruction, m.Denoise, m.ContrastiveTop1,
                      m.ImagesPerSecond, m.ElapsedSeconds, m.KnnTop1];
        // A step the monitor did not measure has an empty knn_top1 cell and no knn_top1 key (JSON has no NaN).
        var obj = new Dictionary<string, double>();
        for (int i = 0; i < Columns.Length; i++)
            if (!double.IsNaN(v[i])) obj[Columns[i]] = v[i];
        Append(_csv, string.Join(',', v.Select(x => double.IsNaN(x) ? "" : x.ToString("R", inv))));
        Append(_jsonl, JsonSerializer.Serialize(obj));
    }

    // A line that cannot be written names its file; the lines before it stay, and a resumed run drops a half-written one.
    private static void Append(StreamWriter writer, string line)
    {
        try { writer.WriteLine(line); }
        catch (Exception e) when (IO.WriteFault.Is(e))
        {
            string path = (writer.BaseStream as FileStream)?.Name ?? "metrics";
            throw IO.WriteFault.For(path, e, "its earlier lines are kept; the same command resumes from the last checkpoint");
        }
    }

    /// <summary>
    /// Keeps only the lines of metrics.jsonl and metrics.csv up to <paramref name="step"/> (a resumed run's
    /// checkpoint step): the steps after it were logged before a crash and are about to be trained and logged again.
    /// A line cut short by the crash is dropped too. Each file is rewritten through a temporary file + rename.
    /// </summary>
    public static void TruncateAfter(string directory, long step)
    {
        Rewrite(Path.Combine(directory, "metrics.jsonl"), (line, _) =>
        {
            try { return JsonSerializer.Deserialize<Dictionary<string, double>>(line) is { } d && d.TryGetValue("step", out var s) && s <= step; }
            catch (JsonException) { return false; }
        });
        string csv = Path.Combine(directory, "metrics.csv");
        int columns = File.Exists(csv) ? ColumnsOf(csv) : Columns.Length;
        Rewrite(csv, (line, index) =>
            index == 0 ? line.StartsWith(Columns[0] + ",", StringComparison.Ordinal)
                       : line.Split(',') is { Length: var n } cells && n == columns
                         && double.TryParse(cells[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s <= step);
    }

    // The header's column count: a folder written before the knn_top1 column keeps its shorter lines.
    private static int ColumnsOf(string csv) => File.ReadLines(csv).FirstOrDefault()?.Split(',').Length ?? Columns.Length;

    // File.ReadAllLines and File.ReadLines skip a leading byte-order mark; the rewritten file has none.
    private static void Rewrite(string path, Func<string, int, bool> keep)
    {
        if (!File.Exists(path)) return;
        var lines = File.ReadAllLines(path);
        var kept = lines.Where((l, i) => l.Length > 0 && keep(l, i)).ToList();
        if (kept.Count == lines.Length) return;
        string tmp = path + ".tmp";
        File.WriteAllLines(tmp, kept, NoBom);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Reads a metrics.jsonl back (for reports and plots); a leading byte-order mark (older versions wrote one) is skipped.</summary>
    /// <remarks>A malformed line is an <see cref="InvalidDataException"/> naming the file, the line and the problem.</remarks>
    public static IReadOnlyList<StepMetrics> Read(string path) =>
        File.ReadLines(path).Select((l, i) => (Line: l, Number: i + 1)).Where(x => x.Line.Length > 0).Select(x =>
        {
            Dictionary<string, double>? d;
            try { d = JsonSerializer.Deserialize<Dictionary<string, double>>(x.Line); }
            catch (JsonException e) { throw new InvalidDataException($"{path}:{x.Number}: not a metrics line ({e.Message.Split('\n')[0]})", e); }
            double Get(string key) => d is not null && d.TryGetValue(key, out var v) ? v : throw new InvalidDataException($"{path}:{x.Number}: no '{key}'");
            return new StepMetrics((long)Get("step"), (long)Get("epoch"), Get("lr"), Get("loss"), Get("contrastive"), Get("reconstruction"),
                Get("denoise"), Get("top1"), Get("images_per_s"), Get("elapsed_s"),
                d!.TryGetValue("knn_top1", out var knn) ? knn : double.NaN);
        }).ToList();

    public void Dispose()
    {
        _jsonl.Dispose();
        _csv.Dispose();
    }
}
