using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace CanKit.Plots;

/// <summary>One Plotly.js trace (line, scatter, bar, heatmap) as its JSON object.</summary>
public sealed record Trace(Dictionary<string, object?> Json)
{
    public static Trace Line(string name, IEnumerable<double> x, IEnumerable<double> y, int subplot = 1) =>
        new(new Dictionary<string, object?> { ["type"] = "scatter", ["mode"] = "lines", ["name"] = name, ["x"] = x.ToArray(), ["y"] = y.ToArray(), ["xaxis"] = Axis("x", subplot), ["yaxis"] = Axis("y", subplot) });

    public static Trace Scatter(string name, IEnumerable<double> x, IEnumerable<double> y, IEnumerable<string>? text = null, int subplot = 1) =>
        new(new Dictionary<string, object?> { ["type"] = "scatter", ["mode"] = "markers", ["name"] = name, ["x"] = x.ToArray(), ["y"] = y.ToArray(), ["text"] = text?.ToArray(), ["xaxis"] = Axis("x", subplot), ["yaxis"] = Axis("y", subplot) });

    public static Trace Bar(string name, IEnumerable<string> x, IEnumerable<double> y, int subplot = 1) =>
        new(new Dictionary<string, object?> { ["type"] = "bar", ["name"] = name, ["x"] = x.ToArray(), ["y"] = y.ToArray(), ["xaxis"] = Axis("x", subplot), ["yaxis"] = Axis("y", subplot) });

    public static Trace Heatmap(string name, double[][] z, int subplot = 1) =>
        new(new Dictionary<string, object?> { ["type"] = "heatmap", ["name"] = name, ["z"] = z, ["xaxis"] = Axis("x", subplot), ["yaxis"] = Axis("y", subplot) });

    /// <summary>An image (e.g. a PNG grid as a <c>data:image/png;base64,…</c> URI) shown on the plot's axes.</summary>
    public static Trace Image(string name, string dataUri, int subplot = 1) =>
        new(new Dictionary<string, object?> { ["type"] = "image", ["name"] = name, ["source"] = dataUri, ["xaxis"] = Axis("x", subplot), ["yaxis"] = Axis("y", subplot) });

    /// <summary>A PNG file as an image trace.</summary>
    public static Trace ImageFromPng(string name, string pngPath, int subplot = 1) =>
        Image(name, "data:image/png;base64," + Convert.ToBase64String(File.ReadAllBytes(pngPath)), subplot);

    private static string Axis(string a, int subplot) => subplot == 1 ? a : a + subplot.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A small typed builder for Plotly.js figures, rendered to a self-contained HTML fragment or page. Subplots are
/// side by side (one row). Plotly.js comes from npm's <c>plotly.js-dist-min</c> when it is installed (inlined, works
/// offline) and from its CDN otherwise.
/// </summary>
public sealed class PlotlyFigure
{
    private readonly List<Trace> _traces = [];
    private readonly Dictionary<string, object?> _layout = new() { ["margin"] = new Dictionary<string, int> { ["t"] = 40, ["l"] = 50, ["r"] = 20, ["b"] = 40 } };
    private int _columns = 1;

    public string Title { get; }

    public PlotlyFigure(string title)
    {
        Title = title;
        _layout["title"] = new Dictionary<string, object> { ["text"] = title };
    }

    public PlotlyFigure Add(Trace t)
    {
        _traces.Add(t);
        return this;
    }

    /// <summary>Side-by-side subplots with their axis titles.</summary>
    public PlotlyFigure Subplots(params (string X, string Y)[] axes)
    {
        _columns = axes.Length;
        _layout["grid"] = new Dictionary<string, object> { ["rows"] = 1, ["columns"] = axes.Length, ["pattern"] = "independent" };
        for (int i = 0; i < axes.Length; i++)
        {
            string suffix = i == 0 ? "" : (i + 1).ToString(CultureInfo.InvariantCulture);
            _layout["xaxis" + suffix] = new Dictionary<string, object> { ["title"] = new Dictionary<string, string> { ["text"] = axes[i].X } };
            _layout["yaxis" + suffix] = new Dictionary<string, object> { ["title"] = new Dictionary<string, string> { ["text"] = axes[i].Y } };
        }
        return this;
    }

    public PlotlyFigure Axes(string x, string y) => Subplots((x, y));

    public string FigureJson() => JsonSerializer.Serialize(new { data = _traces.Select(t => t.Json), layout = _layout });

    /// <summary>A div plus the script that draws into it (needs Plotly.js on the page).</summary>
    public string ToHtmlFragment(string id, int height = 360)
    {
        string json = FigureJson().Replace("</", "<\\/");
        return $"<div id=\"{id}\" class=\"plot\" style=\"height:{height}px;width:{Math.Max(480, 420 * _columns)}px\"></div>\n" +
               $"<script>(function(){{var f={json};Plotly.newPlot('{id}',f.data,f.layout,{{staticPlot:false,responsive:true}});}})();</script>";
    }

    /// <summary>The script tag that loads Plotly.js: inlined from npm's plotly.js-dist-min when found, else the CDN.</summary>
    public static string PlotlyScriptTag(bool preferInline = true)
    {
        if (preferInline && FindPlotlyJs() is { } path) return "<script>" + File.ReadAllText(path) + "</script>";
        return "<script src=\"https://cdn.plot.ly/plotly-2.35.2.min.js\" charset=\"utf-8\"></script>";
    }

    /// <summary>plotly.min.js from <c>$CANKIT_PLOTLY_JS</c> or a node_modules folder at or above the working directory or the app.</summary>
    public static string? FindPlotlyJs()
    {
        string? env = Environment.GetEnvironmentVariable("CANKIT_PLOTLY_JS");
        if (!string.IsNullOrEmpty(env) && File.Exists(env)) return env;
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                string p = Path.Combine(d.FullName, "node_modules", "plotly.js-dist-min", "plotly.min.js");
                if (File.Exists(p)) return p;
            }
        return null;
    }

    /// <summary>A self-contained HTML page with several figures and some HTML above them.</summary>
    public static string Page(string title, string bodyHtml, IEnumerable<PlotlyFigure> figures)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n");
        sb.Append("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style>\n");
        sb.Append(PlotlyScriptTag()).Append("\n</head><body>\n<h1>").Append(WebUtility.HtmlEncode(title)).Append("</h1>\n").Append(bodyHtml).Append('\n');
        int i = 0;
        foreach (var f in figures) sb.Append(f.ToHtmlFragment($"plot{i++}")).Append('\n');
        return sb.Append("</body></html>\n").ToString();
    }
}
