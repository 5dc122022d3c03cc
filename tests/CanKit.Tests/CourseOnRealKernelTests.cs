using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// The course's acceptance test: every notebook executed by the real .NET Interactive kernel (the `.net-csharp`
/// kernelspec of the dotnet-interactive tool, which VS Code Polyglot Notebooks and Jupyter run) through Jupyter's
/// nbclient, in quick mode (tests/kernel/run_course.py); then each executed notebook converted to HTML by
/// `jupyter nbconvert` and opened in headless Chromium: every chart drawn, every image decoded.
/// ./build.sh test installs the tool, the kernelspec and Debian's Jupyter packages (tools/install-kernel.sh).
/// The notebooks run with their exercises' solutions appended (the hidden Solutions cell of each), each ending in a check.
/// They reference CanKit as a package (`#r "nuget: CanKit.Interactive, *-*"`) from the local feed, which this test packs
/// first where the build has not (tools/pack-feed.sh), and each must have run this build's version.
/// </summary>
[Collection("console")]
public sealed class CourseOnRealKernelTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-course-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (int Code, string Output) Run(string file, string args, TimeSpan limit, string? cwd = null)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd ?? RepoPaths.Root() };
        // The kernel restores `#r "nuget:"` packages with MSBuild; it must not inherit the test host's MSBuild and
        // test-platform settings (it would run as if inside this build).
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("TESTINGPLATFORM", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {args} ran past {limit.TotalMinutes} minutes:\n{stdout.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public async Task EveryNotebookRunsOnTheRealKernelAndItsPageDraws()
    {
        string root = RepoPaths.Root(), executed = Path.Combine(_dir, "executed");
        string[] notebooks = Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb").Order().ToArray();
        Assert.True(notebooks.Length >= 11, $"{notebooks.Length} notebooks");
        var (_, version) = PackageFeed.Ensure();
        // One run executes each notebook and then the ```csharp blocks of its hidden Solutions cell, appended as code
        // cells (`--solutions`): the course as a learner runs it, and every exercise's solution on the state it leaves.
        var clock = Stopwatch.StartNew();
        var (code, log) = Run("/usr/bin/python3", $"tests/kernel/run_course.py --solutions \"{executed}\"", TimeSpan.FromMinutes(40));
        output.WriteLine(log);
        output.WriteLine($"the course with its solutions on the real kernel: {clock.Elapsed.TotalSeconds:F0} s");
        var lines = log.Split('\n').Where(l => l.StartsWith("ok ") || l.StartsWith("FAIL ")).ToList();
        Assert.True(code == 0, "the course failed on the real kernel:\n" + string.Join("\n", lines.Where(l => l.StartsWith("FAIL"))) + "\n" +
                               log[^Math.Min(log.Length, 3000)..]);
        Assert.Equal(notebooks.Length, lines.Count(l => l.StartsWith("ok ")));

        // Each executed notebook holds the outputs the kernel made: CanKit's formatters were used (a chart in every
        // notebook but one, labelled image rows in the notebooks that show patches, masks, noise, views and
        // reconstructions, a tensor's statistics in the tour), and each ran its closing checks.
        var html = new Dictionary<string, string>();
        foreach (string nb in notebooks)
        {
            string name = Path.GetFileNameWithoutExtension(nb);
            var (c, o) = Run("/usr/bin/jupyter", $"nbconvert --to html --output-dir \"{_dir}\" \"{Path.Combine(executed, name + ".ipynb")}\"",
                             TimeSpan.FromMinutes(2));
            Assert.True(c == 0, o);
            html[name] = Path.Combine(_dir, name + ".html");
        }
        string All(string name) => File.ReadAllText(Path.Combine(executed, name + ".ipynb"));
        // The kernel lists the packages a cell installed: every notebook restored this build's CanKit from the feed.
        foreach (string nb in notebooks)
            Assert.Contains($"CanKit.Interactive, {version}", All(Path.GetFileNameWithoutExtension(nb)));
        Assert.Contains("min 0, mean 2.5, max 5", All("00-setup-and-tour"));
        Assert.Contains("ImageRows: the first image as 49 tokens", All("01-patches-vit-position"));
        Assert.Contains("ImageRows: originals [8, 1, 28, 28] · 50 % masked", All("02-masking-and-mae"));
        Assert.Contains("ImageRows: image [10, 1, 28, 28] · view 1", All("03-views-and-infonce"));
        Assert.Contains("ImageRows: σ = 0 [8, 1, 28, 28]", All("04-noise-and-sigma-embedding"));
        Assert.Contains("ImageRows: original [8, 1, 28, 28] · input: masked + noisy", All("05-can-on-fashion-mnist"));
        Assert.Contains("ImageRows: online view (crop + flip) [8, 1, 28, 28]", All("06-cmae"));
        Assert.Contains("ImageRows: originals [8, 3, 32, 32] · CAN view 1 [8, 3, 32, 32] · CAN view 2", All("07-cifar10-checkpoints-resume"));
        Assert.Contains("your weighted 20-NN == KnnClassifier.Accuracy on all four feature sets", All("07-cifar10-checkpoints-resume"));
        Assert.Contains("ImageRows: n01440764 (tench)", All("08-imagenette-image-folder"));
        Assert.Contains("t-SNE of CAN features", All("10-evaluation"));
        // Each notebook's own cells ran its closing checks, and each appended solution cell printed a passed check: the
        // solutions end in checks, not only in code that runs.
        static string Printed(JsonNode cell) => cell["outputs"] is JsonArray outs
            ? string.Concat(outs.Select(o => o!["text"] is JsonArray a ? string.Concat(a.Select(t => (string?)t)) : (string?)o!["text"] ?? ""))
            : "";
        foreach (string nb in notebooks)
        {
            string name = Path.GetFileName(nb);
            var cells = JsonNode.Parse(File.ReadAllText(Path.Combine(executed, name)))!["cells"]!.AsArray();
            int solutions = int.Parse(System.Text.RegularExpressions.Regex.Match(lines.Single(l => l.Contains(name)), @"; (\d+) solutions in").Groups[1].Value);
            Assert.True(solutions >= 2, $"{name}: {solutions} solutions");
            Assert.Contains("check passed:", string.Concat(cells.Take(cells.Count - solutions).Select(c => Printed(c!))));
            foreach (var cell in cells.Skip(cells.Count - solutions))
                Assert.True(Printed(cell!).Contains("check passed:"), $"{name}: a solution printed no passed check:\n{cell!["source"]}");
        }

        // Pages checked in the browser: charts (a grid of subplots), labelled image rows, tables, two scatter plots.
        foreach (var (name, kind, minPlots, minImages) in new[]
                 {
                     ("05-can-on-fashion-mnist", "charts and image rows", 1, 6), ("06-cmae", "image rows and charts", 1, 4),
                     ("03-views-and-infonce", "a table, image rows and charts", 2, 3), ("02-masking-and-mae", "image rows and a chart", 1, 9),
                     ("07-cifar10-checkpoints-resume", "image rows and charts", 2, 20), ("10-evaluation", "PCA and t-SNE", 2, 0),
                 })
        {
            var (plots, images) = await HtmlReportBrowserTests.AssertRenders(html[name], output, serveCdn: true, staticKernelPage: true);
            output.WriteLine($"{name}: {kind}: {plots} charts, {images} images");
            Assert.True(plots >= minPlots, $"{name}: {plots} charts drawn, expected {minPlots} or more");
            Assert.True(images >= minImages, $"{name}: {images} images decoded, expected {minImages} or more");
        }
        Assert.Contains("<th>InfoNCE</th>", File.ReadAllText(html["03-views-and-infonce"]));
    }
}
