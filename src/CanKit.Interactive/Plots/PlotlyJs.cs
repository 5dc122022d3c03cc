using System.Reflection;

namespace CanKit.Plots;

/// <summary>
/// Plotly.js as Plotly.NET ships it (an embedded resource of Plotly.NET.dll), so that HTML pages can inline it and
/// draw their charts offline, and notebook outputs can name the same version on its CDN.
/// </summary>
public static class PlotlyJs
{
    private static readonly Lazy<(string Name, string Source)> Embedded = new(() =>
    {
        var asm = typeof(Plotly.NET.GenericChart).Assembly;
        string name = asm.GetManifestResourceNames().SingleOrDefault(n => n.StartsWith("Plotly.NET.plotly-", StringComparison.Ordinal)
                                                                          && n.EndsWith(".min.js", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"{asm.GetName().Name} {asm.GetName().Version} carries no plotly-*.min.js resource");
        using var s = asm.GetManifestResourceStream(name)!;
        using var r = new StreamReader(s);
        return (name, r.ReadToEnd());
    });

    /// <summary>The minified Plotly.js source.</summary>
    public static string Source() => Embedded.Value.Source;

    /// <summary>Its version, e.g. <c>2.28.0</c>.</summary>
    public static string Version => Embedded.Value.Name["Plotly.NET.plotly-".Length..^".min.js".Length];

    /// <summary>The same file on Plotly's CDN.</summary>
    public static string CdnUrl => $"https://cdn.plot.ly/plotly-{Version}.min.js";

    /// <summary>A script element that inlines Plotly.js (for a self-contained page; about 3.6 MB).</summary>
    public static string InlineScriptTag() =>
        "<script type=\"text/javascript\" charset=\"utf-8\">" +
        Source().Replace("</script", "<\\/script", StringComparison.OrdinalIgnoreCase) + "</script>";
}
