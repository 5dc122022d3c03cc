using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Markdig;

namespace CanKit.Notebooks;

/// <summary>A self-contained HTML page of an executed notebook: markdown rendered, code and outputs shown, Plotly.js
/// inlined once (from npm's plotly.js-dist-min) so plots render offline.</summary>
public static class NotebookHtml
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
        // Chart outputs load Plotly.js from its CDN when the page has none; this page carries it inline.
        string plotly = html.Contains("Plotly.newPlot", StringComparison.Ordinal) ? CanKit.Plots.PlotlyJs.InlineScriptTag() : "";
        return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + WebUtility.HtmlEncode(title) + "</title>\n" +
               "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}pre.code{background:#f4f4f4;padding:8px}pre.out{border-left:3px solid #ccc;padding-left:8px}.err{color:#b00}</style>\n" +
               plotly + "\n</head><body>\n" + html + "</body></html>\n";
    }

    private static string Output(JsonObject o)
    {
        switch ((string?)o["output_type"])
        {
            case "stream":
                return $"<pre class=\"out\">{WebUtility.HtmlEncode((string?)o["text"] ?? "")}</pre>\n";
            case "error":
                return $"<pre class=\"out err\">{WebUtility.HtmlEncode($"{o["ename"]}: {o["evalue"]}")}</pre>\n";
            default:
                var data = o["data"] as JsonObject;
                if (data?["text/html"] is JsonNode h) return $"<div class=\"out\">{(string?)h}</div>\n";
                return $"<pre class=\"out\">{WebUtility.HtmlEncode((string?)data?["text/plain"] ?? "")}</pre>\n";
        }
    }
}
