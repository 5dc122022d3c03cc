using System.Globalization;
using System.Text.Json.Nodes;
using TorchSharp;

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

/// <summary>Turns values into Jupyter mime bundles: HTML for <see cref="HtmlString"/> and Plotly figures, tensors
/// with their values, plain text otherwise. Long text is cut so notebooks stay small.</summary>
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
            case Plotly.NET.GenericChart c:
                bundle["text/html"] = CanKit.Plots.ChartHtml.Fragment(c);
                text = "Plotly.NET chart";
                break;
            case torch.Tensor t:
                text = Truncate(TensorText(t));
                break;
        }
        bundle["text/plain"] = text;
        return bundle;
    }

    /// <summary>
    /// A tensor as its metadata line (<c>[2x3], type = Float32, device = cpu</c>) and then its values in NumPy's
    /// layout, summarised past <c>torch.maxRows</c>/<c>torch.maxColumns</c> (TorchSharp's own
    /// <c>ToString()</c> shows the metadata only, which says nothing about the values a cell computed).
    /// </summary>
    public static string TensorText(torch.Tensor t)
    {
        if (t.IsInvalid) return "tensor(<disposed>)";
        // The formatter indexes element by element; a scope frees those temporaries now rather than at the next GC.
        using var scope = torch.NewDisposeScope();
        string meta = t.ToString(TensorStringStyle.Metadata) + (t.requires_grad ? ", requires_grad" : "");
        string values = t.ToString(TensorStringStyle.Numpy, cultureInfo: CultureInfo.InvariantCulture, newLine: "\n");
        return meta + "\n" + values;
    }

    public static string Truncate(string s) => s.Length <= MaxText ? s : s[..MaxText] + $"\n… ({s.Length - MaxText} more characters cut)";
}
