using System.Reflection;
using System.Runtime.Loader;
using CanKit.Display;
using CanKit.Engine;
using CanKit.Interactive;
using CanKit.Training;
using Microsoft.DotNet.Interactive.Formatting;
using Xunit;

namespace CanKit.Tests;

/// <summary>What a notebook shows for CanKit's values (through .NET Interactive's formatter, as the kernel calls it), and
/// the FSharp.Core binding that lets Plotly.NET run in the kernel.</summary>
public class NotebookFormatterTests
{
    static NotebookFormatterTests() => NotebookFormatters.Register();

    [Fact]
    public void TensorsShowShapeStatisticsAndValues()
    {
        using var t = arange(0, 6, dtype: ScalarType.Float32).reshape(2, 3);
        string text = Formatter.ToDisplayString(t, PlainTextFormatter.MimeType);
        Assert.StartsWith("[2x3], type = Float32, device = cpu\nmin 0, mean 2.5, max 5\n", text);   // mean (0+…+5)/6 exactly
        Assert.Contains("[[0, 1, 2]", text);
        Assert.Contains(" [3, 4, 5]]", text);
        string html = Formatter.ToDisplayString(t, HtmlFormatter.MimeType);
        Assert.StartsWith("<pre>[2x3], type = Float32", html);
        using var ints = tensor(new long[] { 7, 8 });
        Assert.DoesNotContain("mean", Formatter.ToDisplayString(ints, PlainTextFormatter.MimeType));   // statistics for floats only
    }

    [Fact]
    public void ImageBatchesShowTheirGridAsPng()
    {
        // Four 1×5×6 images, values i/4: a 2×2 grid with 2 px padding is 2·(5+2)+2 = 16 high and 2·(6+2)+2 = 18 wide.
        using var x = arange(4, dtype: ScalarType.Float32).div(4).view(4, 1, 1, 1).expand(4, 1, 5, 6);
        var b = new ImageBatch(x, columns: 2, caption: "four");
        Assert.Equal((18, 16), (b.Width, b.Height));
        using var png = CanKit.Data.ImageCodec.Decode(b.Png, "grid");
        Assert.Equal(new long[] { 1, 16, 18 }, png.shape);
        Assert.Equal(191, png[0, 2 + 7, 2 + 8].item<byte>());          // image 3 (bottom right): round(0.75·255) = 191
        string html = Formatter.ToDisplayString(b, HtmlFormatter.MimeType);
        Assert.Contains("src=\"data:image/png;base64,", html);
        Assert.Contains("width=\"36\" height=\"32\"", html);              // drawn at twice the size, pixelated
        Assert.Contains("<figcaption>four</figcaption>", html);
    }

    [Fact]
    public void ImageRowsShowEachRowBesideItsLabel()
    {
        // Two rows of three 1×4×4 images: each strip is 3·(4+2)+2 = 20 wide and 4+2+2 = 8 high, drawn at three times.
        using var a = zeros(3, 1, 4, 4);
        using var b = ones(3, 1, 4, 4);
        var rows = new ImageRows(3, ("clean <x>", a), ("masked", b));
        Assert.Equal(2, rows.Rows.Count);
        Assert.Equal((20, 8), (rows.Rows[1].Strip.Width, rows.Rows[1].Strip.Height));
        using var png = CanKit.Data.ImageCodec.Decode(rows.Rows[1].Strip.Png, "strip");
        Assert.Equal(255, png[0, 2, 2].item<byte>());                        // row 2 is all ones: white
        string html = Formatter.ToDisplayString(rows, HtmlFormatter.MimeType);
        Assert.Equal(2, html.Split("<img ").Length - 1);
        Assert.Contains("<td style=\"text-align:right;padding-right:8px;max-width:200px\">clean &lt;x&gt;</td>", html);   // labels are encoded
        Assert.Contains("width=\"60\" height=\"24\"", html);
        Assert.Throws<ArgumentException>(() => new ImageRows(2, ("flat", zeros(4, 4))));
    }

    [Fact]
    public void ChartsAndRunMetricsShowAsHtml()
    {
        var chart = Plotly.NET.CSharp.Chart.Line<double, double, string>(x: [0, 1], y: [1, 0.5]);
        Assert.StartsWith("<div class=\"plot\">", Formatter.ToDisplayString(chart, HtmlFormatter.MimeType));
        IReadOnlyList<StepMetrics> m = Enumerable.Range(1, 12).Select(i => new StepMetrics(i, 0, 1e-3, 2.0 / i, 1.0 / i, 0.5, 0.25, 0.1, 100, i)).ToList();
        string html = Formatter.ToDisplayString(m, HtmlFormatter.MimeType);
        Assert.Contains("12 logged steps (first and last five)", html);
        Assert.Equal(11, html.Split("<tr>").Length - 1);                    // header + 10 rows
        Assert.Contains("<td>12</td><td>0</td><td>0.001</td><td>0.1667</td>", html);    // step 12: loss 2/12
    }

    [Fact]
    public void FSharpCoreRequestsBindToTheLoadedCopy()
    {
        // A context that holds FSharp.Core (the deployed copy), as the kernel's default context holds its own 10.0.
        var ctx = new AssemblyLoadContext("fsharp-binding-test", isCollectible: true);
        try
        {
            Assert.Null(FSharpCoreBinding.Resolve(ctx, new AssemblyName("FSharp.Core, Version=10.1.0.0")));   // none loaded: no answer
            var loaded = ctx.LoadFromAssemblyPath(typeof(Microsoft.FSharp.Core.FSharpOption<int>).Assembly.Location);
            int before = FSharpCoreBinding.Redirects;
            Assert.Same(loaded, FSharpCoreBinding.Resolve(ctx, new AssemblyName("FSharp.Core, Version=99.0.0.0")));
            Assert.Equal(before + 1, FSharpCoreBinding.Redirects);
            Assert.Null(FSharpCoreBinding.Resolve(ctx, new AssemblyName("Plotly.NET, Version=6.0.0.0")));       // only FSharp.Core
        }
        finally { ctx.Unload(); }
    }
}
