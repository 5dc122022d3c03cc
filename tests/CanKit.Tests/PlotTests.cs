using CanKit.Data;
using CanKit.Methods;
using CanKit.Plots;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

public class PlotTests
{
    [Fact]
    public void PerfectPredictionsReconstructTheOriginals()
    {
        using var g = new Generator(2);
        using var clean = randn([3, 1, 8, 8], generator: g);
        using var noise = randn([3, 1, 8, 8], generator: g) * 0.05;
        using var input = clean + noise;
        using var patches = Patches.Patchify(clean, 4);                         // [3, 4, 16]
        using var mask = tensor(new float[] { 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0 }, [3, 4]);
        using var sigma = zeros([3]);
        var p = new Predictions(patches.alias(), mask.alias(), input.alias(), noise.alias(), sigma.alias());
        using (p)
        using (var rows = ReconstructionGrid.Build(p, 4, Normalization.FashionMnist, normPix: false, count: 3))
        {
            Assert.Equal(new long[] { 12, 1, 8, 8 }, rows.shape);
            float[] v = rows.data<float>().ToArray();
            int img = 64;
            // Row 3 (reconstruction) equals row 1 (originals) on the masked patches: patch 0 of image 0 is masked.
            for (int y = 0; y < 4; y++)
                for (int x = 0; x < 4; x++)
                    Assert.Equal(v[0 * img + y * 8 + x], v[6 * img + y * 8 + x], 5);
            // Row 2 greys masked patches out.
            Assert.Equal(0.5f, v[3 * img + 0], 6);
            Assert.All(v, e => Assert.InRange(e, 0f, 1f));
        }
    }

    [Fact]
    public void ChartFragmentsDrawWhenPlotlyIsThereAndLoadItOtherwise()
    {
        var chart = Plotly.NET.CSharp.Chart.Line<double, double, string>(x: [1, 2, 3], y: [3.0, 2.0, 1.5], Name: "total")
            .WithTitle("a</script>b").WithAxisTitles("step", "loss");
        string html = ChartHtml.Fragment(chart);
        Assert.StartsWith("<div class=\"plot\">", html);
        Assert.Contains("Plotly.newPlot(", html);
        Assert.Contains("\"x\":[1.0,2.0,3.0]", html);
        Assert.Contains("\"title\":{\"text\":\"step\"}", html);
        // Exactly one drawing call, handed to the loader instead of being called before Plotly.js exists.
        var call = System.Text.RegularExpressions.Regex.Match(html, @"}\)\((renderPlotly_[0-9a-f]+)\);");
        Assert.True(call.Success, html[^600..]);
        Assert.Contains($"var {call.Groups[1].Value} = function", html);
        Assert.Contains(PlotlyJs.CdnUrl, html);
        // A title cannot close the script element it is embedded in.
        Assert.DoesNotContain("a</script>b", html);
        string page = ChartHtml.Page("t", "<p>x</p>", [chart, chart]);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(page, "<div class=\"plot\">").Count);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(page, "<script type=\"text/javascript\" charset=\"utf-8\">"));   // Plotly.js inline, once
    }

    [Fact]
    public void PlotlyJsIsTheVersionPlotlyNetDraws()
    {
        string js = PlotlyJs.Source();
        Assert.Matches(@"^\d+\.\d+\.\d+$", PlotlyJs.Version);
        Assert.Contains($"version=\"{PlotlyJs.Version}\"", js);                   // Plotly.js states its own version
        Assert.True(js.Length > 1_000_000, $"{js.Length} characters");
        Assert.DoesNotContain("</script", PlotlyJs.InlineScriptTag()[8..^9], StringComparison.OrdinalIgnoreCase);
    }
}
