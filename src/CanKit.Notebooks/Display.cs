using System.Text.Json.Nodes;

namespace CanKit.Notebooks;

/// <summary>HTML to show as a cell output (<c>HTML("&lt;b&gt;hi&lt;/b&gt;")</c>).</summary>
public sealed record HtmlString(string Html)
{
    public override string ToString() => Html;
}

/// <summary>A displayed value that can be replaced later (<c>var d = display(x); … d.Update(y);</c>).</summary>
public sealed class DisplayHandle
{
    private readonly JsonObject _output;

    internal DisplayHandle(JsonObject output) => _output = output;

    public string Id => (string)_output["metadata"]!["display_id"]!;

    /// <summary>Replaces what is shown with <paramref name="value"/>.</summary>
    public void Update(object? value) => _output["data"] = Formatter.MimeBundle(value);
}

/// <summary>Turns values into Jupyter mime bundles: HTML for <see cref="HtmlString"/> and anything with
/// <c>ToHtml()</c>, plain text otherwise. Long text is cut so notebooks stay small.</summary>
public static class Formatter
{
    public const int MaxText = 20_000;

    public static JsonObject MimeBundle(object? value)
    {
        var bundle = new JsonObject();
        string text = Truncate(value?.ToString() ?? "null");
        switch (value)
        {
            case HtmlString h:
                bundle["text/html"] = h.Html;
                break;
            case CanKit.Plots.PlotlyFigure f:
                bundle["text/html"] = PlotlyHtml(f);
                text = $"PlotlyFigure({f.Title})";
                break;
        }
        bundle["text/plain"] = text;
        return bundle;
    }

    private static int _plotId;

    /// <summary>A figure's HTML for a notebook: Plotly.js from its CDN, then the figure.</summary>
    public static string PlotlyHtml(CanKit.Plots.PlotlyFigure f) =>
        PlotlyCdnTag + "\n" + f.ToHtmlFragment($"cankit-plot-{Interlocked.Increment(ref _plotId)}-{Guid.NewGuid():N}");

    public const string PlotlyCdnTag = "<script src=\"https://cdn.plot.ly/plotly-2.35.2.min.js\" charset=\"utf-8\"></script>";

    public static string Truncate(string s) => s.Length <= MaxText ? s : s[..MaxText] + $"\n… ({s.Length - MaxText} more characters cut)";
}
