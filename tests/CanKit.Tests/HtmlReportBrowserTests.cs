using CanKit.Notebooks;
using CanKit.Plots;
using Microsoft.Playwright;
using Plotly.NET.CSharp;
using PlotlyChart = Plotly.NET.CSharp.Chart;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// The HTML reports and notebook pages open in headless Chromium (Debian's, driven by Playwright with its executable
/// path — no browser download): every plot is drawn (Plotly's SVG in every plot div, and pixels in its screenshot), every
/// image decodes, and the console has no errors.
/// </summary>
[Collection("console")]
public sealed class HtmlReportBrowserTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-html-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Chromium = "/usr/bin/chromium";

    /// <summary>
    /// Opens the page and waits until every <c>div.plot</c> holds Plotly's SVG; then screenshots each plot and each
    /// table and checks that it is drawn (at least 2 % of its pixels not background), that every image decoded, and
    /// that there were no console errors. With <paramref name="serveCdn"/>, requests for Plotly.js on its CDN (notebook outputs load it
    /// from there, as in Jupyter) are answered with the copy Plotly.NET embeds — the test machine is offline. With
    /// <paramref name="staticKernelPage"/> (a notebook the real kernel executed, saved as HTML), the script the
    /// dotnet-interactive kernel puts in its first output to reach its own HTTP port (it loads require.js from cdnjs,
    /// probes the kernel's addresses, then asks for <c>{address}resources/dotnet-interactive.js</c>, "undefined" when no
    /// probe answered) cannot succeed in a static page: those requests are refused and their failures are not counted
    /// as errors; every other error still fails the test.
    /// </summary>
    internal static async Task<(int Plots, int Images)> AssertRenders(string htmlPath, ITestOutputHelper output,
                                                                      bool serveCdn = false, bool staticKernelPage = false)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: ./build.sh test installs Debian's chromium");
        using var pw = await Playwright.CreateAsync();
        await using var browser = await pw.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                    "--no-first-run", "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        var errors = new List<string>();
        static bool KernelConnection(string url) => url.StartsWith("https://cdnjs.cloudflare.com/ajax/libs/require.js/", StringComparison.Ordinal) ||
                                                    System.Text.RegularExpressions.Regex.IsMatch(url, @"^http://[^/]*:2\d{3}/") ||
                                                    url.Contains("resources/dotnet-interactive.js", StringComparison.Ordinal);
        page.Console += (_, m) =>
        {
            if (m.Type == "error" && !(staticKernelPage && m.Location is { } at && KernelConnection(at)))
                errors.Add($"{m.Text} ({m.Location})");
        };
        if (staticKernelPage)
            await page.RouteAsync(url => KernelConnection(url), route => route.AbortAsync());
        page.PageError += (_, e) => errors.Add(e);
        if (serveCdn)
            await page.RouteAsync(PlotlyJs.CdnUrl, route =>
                route.FulfillAsync(new RouteFulfillOptions { Status = 200, ContentType = "text/javascript", Body = PlotlyJs.Source() }));
        await page.GotoAsync(new Uri(htmlPath).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load, Timeout = 60_000 });
        int plots = await page.Locator("div.plot").CountAsync();
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('div.plot')].every(d => d.querySelector('svg.main-svg'))",
                                        null, new PageWaitForFunctionOptions { Timeout = 120_000 });
        for (int i = 0; i < plots; i++)
        {
            double drawn = Drawn(await page.Locator("div.plot").Nth(i).ScreenshotAsync(), $"plot {i}");
            Assert.True(drawn > 0.02, $"{Path.GetFileName(htmlPath)}: plot {i} is blank ({drawn:P1} of its pixels drawn)");
        }
        int tables = await page.Locator("table").CountAsync();
        for (int i = 0; i < tables; i++)
        {
            var table = page.Locator("table").Nth(i);
            if (!await table.IsVisibleAsync()) continue;
            Assert.True(Drawn(await table.ScreenshotAsync(), $"table {i}") > 0.02, $"{Path.GetFileName(htmlPath)}: table {i} shows nothing");
        }
        int images = await page.Locator("img").CountAsync();
        int decoded = await page.EvaluateAsync<int>("() => [...document.images].filter(i => i.complete && i.naturalWidth > 0).length");
        output.WriteLine($"{Path.GetFileName(htmlPath)}: {plots} plots drawn, {decoded}/{images} images decoded, {errors.Count} console errors");
        foreach (string e in errors) output.WriteLine("  console error: " + e);
        Assert.Equal(images, decoded);
        Assert.Empty(errors);
        return (plots, images);
    }

    /// <summary>The share of a screenshot's pixels that differ from its top-left (background) pixel.</summary>
    private static double Drawn(byte[] png, string what)
    {
        using var img = CanKit.Data.ImageCodec.Decode(png, what);                                 // [C, H, W] bytes
        using var background = img.narrow(1, 0, 1).narrow(2, 0, 1);
        using var differs = img.ne(background).any(0).to(ScalarType.Float32);
        return differs.mean().item<float>();
    }

    [Fact]
    public async Task ReportPagesRenderEveryPlot()
    {
        var charts = new[]
        {
            PlotlyChart.Grid([PlotlyChart.Line<double, double, string>(x: [0, 1, 2], y: [3.0, 2, 1], Name: "a").WithAxisTitles("step", "loss"),
                              PlotlyChart.Line<double, double, string>(x: [0, 1, 2], y: [0.1, 0.2, 0.4], Name: "b").WithAxisTitles("step", "top-1")],
                             1, 2).WithTitle("lines"),
            PlotlyChart.Column<double, string, string>([0.7, 0.8], Keys: new[] { "mae", "can" }, Name: "probe").WithTitle("bars"),
            PlotlyChart.Point<double, double, string>(x: [1, 2, 3], y: [3.0, 1, 2], Name: "pts").WithTitle("scatter"),
            PlotlyChart.Heatmap<double, int, int, string>(new[] { new[] { 1.0, 2 }, new[] { 3.0, 4 } }).WithTitle("heat"),
        };
        var grid = new CanKit.Display.ImageBatch(full([4, 3, 8, 8], 0.5f), columns: 2, caption: "grid");
        string path = Path.Combine(_dir, "report.html");
        File.WriteAllText(path, ChartHtml.Page("report", $"<p>test</p><img src=\"{grid.DataUri}\">", charts));
        var (plots, images) = await AssertRenders(path, output);
        Assert.Equal(charts.Length, plots);
        Assert.Equal(1, images);
    }

    [Fact]
    public async Task NotebookChartOutputsLoadPlotlyOnceFromItsCdn()
    {
        // As a notebook front end shows outputs: fragments only, no Plotly.js on the page until the first chart asks.
        string body = string.Concat(Enumerable.Range(0, 3).Select(i =>
            ChartHtml.Fragment(PlotlyChart.Line<double, double, string>(x: [0, 1, 2], y: [i, i + 1.0, i * 2.0], Name: $"run {i}"))));
        string path = Path.Combine(_dir, "outputs.html");
        File.WriteAllText(path, $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>");
        var (plots, _) = await AssertRenders(path, output, serveCdn: true);
        Assert.Equal(3, plots);
    }

    [Fact]
    public async Task ExecutedNotebookPagesRenderEveryPlot()
    {
        PackageFeed.Ensure();   // the notebook restores CanKit.Interactive from the local feed
        var r = await NotebookRunner.RunAsync(Path.Combine(RepoPaths.Root(), "notebooks", "03-views-and-infonce.ipynb"), _dir, quick: true);
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        await AssertRenders(r.OutputHtml, output);
    }
}
