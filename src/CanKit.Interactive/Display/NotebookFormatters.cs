using System.Globalization;
using System.Net;
using System.Text;
using CanKit.Plots;
using CanKit.Training;
using Microsoft.DotNet.Interactive.Formatting;
using Plotly.NET;

namespace CanKit.Display;

/// <summary>
/// How CanKit's values show in a .NET Interactive notebook (VS Code Polyglot, Jupyter, and the HTML pages of
/// <c>cankit notebooks run</c>), registered with the kernel's <see cref="Formatter"/>: a tensor shows its shape, dtype,
/// device, statistics and values; an <see cref="ImageBatch"/> its PNG grid; a Plotly.NET chart draws; run metrics show as
/// a table of the first and last steps. <c>setup.csx</c> calls <see cref="Register"/>.
/// </summary>
public static class NotebookFormatters
{
    /// <summary>Longest text a formatter writes (notebooks stay small on disk).</summary>
    public const int MaxText = 20_000;

    private static int _registered;

    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        Formatter.Register<Tensor>(t => Cut(TensorText(t)), PlainTextFormatter.MimeType);
        Formatter.Register<Tensor>(t => "<pre>" + WebUtility.HtmlEncode(Cut(TensorText(t))) + "</pre>", HtmlFormatter.MimeType);
        Formatter.Register<ImageBatch>(b => b.ToString(), PlainTextFormatter.MimeType);
        Formatter.Register<ImageBatch>(ImageHtml, HtmlFormatter.MimeType);
        Formatter.Register<ImageRows>(r => r.ToString(), PlainTextFormatter.MimeType);
        Formatter.Register<ImageRows>(RowsHtml, HtmlFormatter.MimeType);
        Formatter.Register<GenericChart>(c => "Plotly.NET chart", PlainTextFormatter.MimeType);
        Formatter.Register<GenericChart>(ChartHtml.Fragment, HtmlFormatter.MimeType);
        Formatter.Register<IReadOnlyList<StepMetrics>>(m => MetricsText(m), PlainTextFormatter.MimeType);
        Formatter.Register<IReadOnlyList<StepMetrics>>(MetricsHtml, HtmlFormatter.MimeType);
        foreach (var t in new[] { typeof(Tensor), typeof(ImageBatch), typeof(ImageRows), typeof(GenericChart), typeof(IReadOnlyList<StepMetrics>) })
            Formatter.SetPreferredMimeTypesFor(t, HtmlFormatter.MimeType, PlainTextFormatter.MimeType);
    }

    /// <summary>
    /// A tensor as its metadata line (<c>[2x3], type = Float32, device = cpu</c>), its min/mean/max for floating
    /// tensors, then its values in NumPy's layout, summarised past <c>torch.maxRows</c>/<c>torch.maxColumns</c>
    /// (TorchSharp's own <c>ToString()</c> shows the metadata only).
    /// </summary>
    public static string TensorText(Tensor t)
    {
        if (t.IsInvalid) return "tensor(<disposed>)";
        using var scope = NewDisposeScope();                     // the formatter's element-wise temporaries
        var inv = CultureInfo.InvariantCulture;
        string meta = t.ToString(TorchSharp.TensorStringStyle.Metadata) + (t.requires_grad ? ", requires_grad" : "");
        if (t.is_floating_point() && t.numel() > 1)
        {
            var f = t.detach().to(ScalarType.Float64);
            meta += string.Format(inv, "\nmin {0:G6}, mean {1:G6}, max {2:G6}", f.min().item<double>(), f.mean().item<double>(), f.max().item<double>());
        }
        return meta + "\n" + t.ToString(TorchSharp.TensorStringStyle.Numpy, cultureInfo: inv, newLine: "\n");
    }

    private static string ImageHtml(ImageBatch b) =>
        $"<figure style=\"margin:0\"><img alt=\"{WebUtility.HtmlEncode(b.ToString())}\" width=\"{b.Width * b.Scale}\" height=\"{b.Height * b.Scale}\" " +
        $"style=\"image-rendering:pixelated\" src=\"{b.DataUri}\">" +
        (b.Caption is null ? "" : $"<figcaption>{WebUtility.HtmlEncode(b.Caption)}</figcaption>") + "</figure>";

    private static string RowsHtml(ImageRows rows) =>
        "<table style=\"border-collapse:collapse\">" + string.Concat(rows.Rows.Select(r =>
            $"<tr><td style=\"text-align:right;padding-right:8px;max-width:200px\">{WebUtility.HtmlEncode(r.Label)}</td>" +
            $"<td><img alt=\"{WebUtility.HtmlEncode(r.Strip.ToString())}\" " +
            $"width=\"{r.Strip.Width * r.Strip.Scale}\" height=\"{r.Strip.Height * r.Strip.Scale}\" " +
            $"style=\"image-rendering:pixelated\" src=\"{r.Strip.DataUri}\"></td></tr>")) + "</table>";

    private static IEnumerable<StepMetrics> Shown(IReadOnlyList<StepMetrics> m) =>
        m.Count <= 10 ? m : m.Take(5).Concat(m.Skip(m.Count - 5));

    private static string MetricsText(IReadOnlyList<StepMetrics> m)
    {
        var sb = new StringBuilder($"{m.Count} logged steps\n");
        foreach (var e in Shown(m))
            sb.Append(string.Format(CultureInfo.InvariantCulture,
                "step {0}: loss {1:F4} (contrastive {2:F4}, reconstruction {3:F4}, denoise {4:F4}), lr {5:G3}\n",
                e.Step, e.Loss, e.Contrastive, e.Reconstruction, e.Denoise, e.LearningRate));
        return sb.ToString();
    }

    private static string MetricsHtml(IReadOnlyList<StepMetrics> m)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder($"<p>{m.Count} logged steps{(m.Count > 10 ? " (first and last five)" : "")}</p>" +
                                   "<table><tr><th>step</th><th>epoch</th><th>lr</th><th>loss</th><th>contrastive</th>" +
                                   "<th>reconstruction</th><th>denoise</th><th>positive top-1</th><th>images/s</th></tr>");
        foreach (var e in Shown(m))
            sb.Append(string.Format(inv, "<tr><td>{0}</td><td>{1}</td><td>{2:G3}</td><td>{3:F4}</td><td>{4:F4}</td>" +
                                         "<td>{5:F4}</td><td>{6:F4}</td><td>{7:F3}</td><td>{8:F0}</td></tr>",
                e.Step, e.Epoch, e.LearningRate, e.Loss, e.Contrastive, e.Reconstruction, e.Denoise, e.ContrastiveTop1, e.ImagesPerSecond));
        return sb.Append("</table>").ToString();
    }

    private static string Cut(string s) => s.Length <= MaxText ? s : s[..MaxText] + $"\n… ({s.Length - MaxText} more characters cut)";
}
