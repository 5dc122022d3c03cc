using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Plotly.NET;
using XmlNode = Giraffe.ViewEngine.HtmlElements.XmlNode;

namespace CanKit.Plots;

/// <summary>
/// Plotly.NET charts (built with <c>Plotly.NET.CSharp</c>'s <c>Chart.Line</c>, <c>Chart.Column</c>, …) as HTML: a
/// fragment for a notebook output or a page section, and a self-contained page for reports. Plotly.NET writes the
/// chart's div and drawing script; CanKit decides where Plotly.js comes from: inlined once per page (offline), or in a
/// notebook output loaded from Plotly's CDN the first time a chart needs it (with require.js where Jupyter has it,
/// a plain script element elsewhere), so that a notebook stays small on disk.
/// </summary>
public static partial class ChartHtml
{
    private static readonly DisplayOptions NoReference = DisplayOptions.init(
        FSharpOption<string>.None, FSharpOption<string>.None, FSharpOption<string>.None, FSharpOption<XmlNode>.None,
        FSharpOption<FSharpList<XmlNode>>.None, FSharpOption<FSharpList<XmlNode>>.None, FSharpOption<PlotlyJSReference>.Some(PlotlyJSReference.NoReference));

    [GeneratedRegex(@"\n(renderPlotly_[0-9a-f]+)\(\);\s*</script>")]
    private static partial Regex DrawCall();

    /// <summary>The chart's div and script, in a <c>div.plot</c>; draws as soon as Plotly.js is on the page, and
    /// loads it from the CDN when it is not.</summary>
    public static string Fragment(GenericChart chart)
    {
        string html = GenericChart.toChartHTML(GenericChart.setDisplayOptions(NoReference, chart));
        var m = DrawCall().Match(html);
        if (!m.Success)
            throw new InvalidOperationException("Plotly.NET's chart HTML has an unexpected shape (no renderPlotly_… call); " +
                                                "CanKit expects Plotly.NET 6.0");
        string cdn = PlotlyJs.CdnUrl;
        string load =
            "(function (draw) {\n" +
            "  if (window.Plotly) { draw(); return; }\n" +
            "  if (window.cankitPlotlyWaiting) { window.cankitPlotlyWaiting.push(draw); return; }\n" +
            "  var waiting = window.cankitPlotlyWaiting = [draw];\n" +
            "  var done = function () { window.cankitPlotlyWaiting = null; waiting.forEach(function (f) { f(); }); };\n" +
            "  if (typeof window.define === 'function' && window.define.amd && typeof window.require === 'function' && window.require.config) {\n" +
            $"    window.require.config({{ paths: {{ cankitPlotly: '{cdn[..^3]}' }} }});\n" +
            "    window.require(['cankitPlotly'], function (P) { window.Plotly = P; done(); });\n" +
            "  } else {\n" +
            $"    var s = document.createElement('script'); s.src = '{cdn}'; s.charset = 'utf-8'; s.onload = done;\n" +
            "    document.head.appendChild(s);\n" +
            "  }\n" +
            $"}})({m.Groups[1].Value});";
        // Plotly.NET writes titles and labels into the script as JSON without escaping "</": a title containing
        // "</script>" would end the script early. Inside a script "<\/" reads the same to JavaScript.
        int script = html.IndexOf("<script", StringComparison.Ordinal);
        script = html.IndexOf('>', script) + 1;
        string drawing = html[script..m.Index].Replace("</", "<\\/", StringComparison.Ordinal);
        return "<div class=\"plot\">" + html[..script] + drawing + "\n" + load + "\n</script>" + html[(m.Index + m.Length)..] + "</div>";
    }

    /// <summary>A self-contained page: a title, some HTML, then the charts; Plotly.js inlined once in the head, so the
    /// page draws offline.</summary>
    public static string Page(string title, string bodyHtml, IEnumerable<GenericChart> charts)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n");
        sb.Append("<style>body{font-family:sans-serif;max-width:1250px;margin:2em auto}table{border-collapse:collapse}" +
                  "td,th{border:1px solid #ccc;padding:4px 8px}</style>\n");
        sb.Append(PlotlyJs.InlineScriptTag()).Append("\n</head><body>\n<h1>").Append(WebUtility.HtmlEncode(title)).Append("</h1>\n")
          .Append(bodyHtml).Append('\n');
        foreach (var c in charts) sb.Append(Fragment(c)).Append('\n');
        return sb.Append("</body></html>\n").ToString();
    }
}
