using System.Text.Json;
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
    public void FiguresSerialiseAsPlotlyJson()
    {
        var fig = new PlotlyFigure("losses").Subplots(("step", "loss"), ("step", "top-1"))
            .Add(Trace.Line("total", [1, 2, 3], [3.0, 2.0, 1.5]))
            .Add(Trace.Bar("acc", ["a", "b"], [0.5, 0.7], subplot: 2));
        using var doc = JsonDocument.Parse(fig.FigureJson());
        var data = doc.RootElement.GetProperty("data");
        Assert.Equal(2, data.GetArrayLength());
        Assert.Equal("x2", data[1].GetProperty("xaxis").GetString());
        Assert.Equal(2, doc.RootElement.GetProperty("layout").GetProperty("grid").GetProperty("columns").GetInt32());
        string html = PlotlyFigure.Page("t", "<p>x</p>", [fig]);
        Assert.Contains("Plotly.newPlot('plot0'", html);
        // A title cannot close the script element it is embedded in.
        string fragment = new PlotlyFigure("a</script>b").ToHtmlFragment("p");
        Assert.DoesNotContain("a</script>b", fragment);
        Assert.Contains("a\\u003C/script\\u003Eb", fragment);
    }
}
