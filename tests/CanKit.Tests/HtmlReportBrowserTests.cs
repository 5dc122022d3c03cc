using CanKit.Notebooks;
using CanKit.Plots;
using Microsoft.Playwright;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// The HTML reports open in headless Chromium (Debian's, driven by Playwright with its executable path — no browser
/// download) and every plot renders (an SVG inside every plot div) with no console errors.
/// </summary>
[Collection("console")]
public sealed class HtmlReportBrowserTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-html-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Chromium = "/usr/bin/chromium";

    private async Task AssertRenders(string htmlPath)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: ./build.sh test installs Debian's chromium");
        using var pw = await Playwright.CreateAsync();
        await using var browser = await pw.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(new Uri(htmlPath).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load, Timeout = 60_000 });
        int plots = await page.Locator("div.plot").CountAsync();
        Assert.True(plots > 0, $"{htmlPath} has no plot divs");
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('div.plot')].every(d => d.querySelector('svg'))", null, new PageWaitForFunctionOptions { Timeout = 30_000 });
        int withSvg = await page.EvaluateAsync<int>("() => [...document.querySelectorAll('div.plot')].filter(d => d.querySelector('svg.main-svg')).length");
        output.WriteLine($"{Path.GetFileName(htmlPath)}: {withSvg}/{plots} plots rendered, {errors.Count} console errors");
        Assert.Equal(plots, withSvg);
        Assert.Empty(errors);
    }

    [Fact]
    public async Task ReportPagesRenderEveryPlot()
    {
        Assert.True(PlotlyFigure.FindPlotlyJs() is not null, "plotly.js-dist-min is not installed: ./build.sh test runs npm ci");
        var figs = new[]
        {
            new PlotlyFigure("lines").Subplots(("step", "loss"), ("step", "top-1")).Add(Trace.Line("a", [0, 1, 2], [3.0, 2, 1])).Add(Trace.Line("b", [0, 1, 2], [0.1, 0.2, 0.4], subplot: 2)),
            new PlotlyFigure("bars").Axes("method", "acc").Add(Trace.Bar("probe", ["mae", "can"], [0.7, 0.8])),
            new PlotlyFigure("scatter").Axes("x", "y").Add(Trace.Scatter("pts", [1, 2, 3], [3.0, 1, 2])),
            new PlotlyFigure("heat").Add(Trace.Heatmap("z", [[1.0, 2], [3, 4]])),
            new PlotlyFigure("image").Add(Trace.Image("grid", "data:image/png;base64," + Convert.ToBase64String(CanKit.Data.ImageCodec.EncodePng(full([3, 8, 8], 128, ScalarType.Byte))))),
        };
        string path = Path.Combine(_dir, "report.html");
        File.WriteAllText(path, PlotlyFigure.Page("report", "<p>test</p>", figs));
        await AssertRenders(path);
    }

    [Fact]
    public async Task ExecutedNotebookPagesRenderEveryPlot()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "CanKit.sln"))) root = Path.GetDirectoryName(root)!;
        var r = await NotebookRunner.RunAsync(Path.Combine(root, "notebooks", "03-views-and-infonce.ipynb"), _dir, quick: true);
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        await AssertRenders(r.OutputHtml);
    }
}
