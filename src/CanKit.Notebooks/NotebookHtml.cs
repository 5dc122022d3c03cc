using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using Markdig;

namespace CanKit.Notebooks;

/// <summary>A self-contained HTML page of an executed notebook: markdown rendered, code and outputs shown (HTML as is,
/// PNG images, plain text, errors); when an output draws a Plotly chart, Plotly.js is inlined once in the head so the
/// page draws it offline.</summary>
public static partial class NotebookHtml
{
    public static string Render(Notebook nb, string title)
    {
        var md = new MarkdownPipelineBuilder().UseAdvancedExtensions().Build();
        var body = new StringBuilder();
        foreach (var cell in nb.Cells.OfType<JsonObject>())
        {
            string src = Notebook.Source(cell);
            if ((string?)cell["cell_type"] == "markdown") { body.Append("<div class=\"md\">").Append(Markdown.ToHtml(src, md)).Append("</div>\n"); continue; }
            if (!Notebook.IsCode(cell)) continue;
            body.Append("<pre class=\"code\">").Append(WebUtility.HtmlEncode(src)).Append("</pre>\n");
            foreach (var o in (cell["outputs"] as JsonArray ?? []).OfType<JsonObject>())
                body.Append(Output(o));
        }
        string html = body.ToString();
        bool plots = html.Contains("Plotly.newPlot", StringComparison.Ordinal);
        // Chart outputs load Plotly.js from its CDN for editors; the page has it inline, so those tags are dropped.
        if (plots) html = PlotlyCdnScript().Replace(html, "");
        return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + WebUtility.HtmlEncode(title) + "</title>\n" +
               "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}" +
               "pre.code{background:#f4f4f4;padding:8px}pre.out{border-left:3px solid #ccc;padding-left:8px}.err{color:#b00}</style>\n" +
               (plots ? CanKit.Plots.PlotlyJs.InlineScriptTag() + "\n" : "") + "</head><body>\n" + html + "</body></html>\n";
    }

    [GeneratedRegex("""<script[^>]*\bsrc=["']https://cdn\.plot\.ly/[^"']*["'][^>]*>\s*</script>""", RegexOptions.IgnoreCase)]
    private static partial Regex PlotlyCdnScript();

    private static string Output(JsonObject o)
    {
        switch ((string?)o["output_type"])
        {
            case "stream":
                return $"<pre class=\"out\">{WebUtility.HtmlEncode((string?)o["text"] ?? "")}</pre>\n";
            case "error":
                // The kernel's traceback starts with the whole exception (type, message, stack); compile errors have none.
                string error = (o["traceback"] as JsonArray)?.FirstOrDefault() is JsonNode first ? (string?)first ?? "" : $"{o["ename"]}: {o["evalue"]}";
                return $"<pre class=\"out err\">{WebUtility.HtmlEncode(error)}</pre>\n";
            default:
                var data = o["data"] as JsonObject;
                if (data?["text/html"] is JsonNode h) return $"<div class=\"out\">{(string?)h}</div>\n";
                if (data?["image/png"] is JsonNode png)
                    return $"<div class=\"out\"><img src=\"data:image/png;base64,{((string?)png)?.Replace("\n", "")}\"></div>\n";
                return $"<pre class=\"out\">{WebUtility.HtmlEncode((string?)data?["text/plain"] ?? "")}</pre>\n";
        }
    }
}
