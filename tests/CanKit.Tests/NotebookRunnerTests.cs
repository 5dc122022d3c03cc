using System.Diagnostics;
using System.Text.Json.Nodes;
using CanKit.Notebooks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace CanKit.Tests;

/// <summary>The headless notebook runner (the .NET Interactive C# kernel in process), on notebooks written here, and the
/// committed course in quick mode.</summary>
[Collection("console")]
public sealed class NotebookRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-nb-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, params string[] cells)
    {
        var arr = new JsonArray();
        int i = 0;
        foreach (var src in cells)
            arr.Add(new JsonObject
            {
                ["cell_type"] = src.StartsWith("# ") ? "markdown" : "code", ["id"] = $"c{i++}", ["metadata"] = new JsonObject(),
                ["source"] = src, ["outputs"] = new JsonArray(), ["execution_count"] = null,
            });
        foreach (var c in arr.OfType<JsonObject>().Where(c => (string?)c["cell_type"] == "markdown")) { c.Remove("outputs"); c.Remove("execution_count"); }
        var nb = new JsonObject
        {
            ["cells"] = arr, ["nbformat"] = 4, ["nbformat_minor"] = 5,
            ["metadata"] = new JsonObject { ["kernelspec"] = new JsonObject { ["name"] = ".net-csharp", ["display_name"] = ".NET (C#)", ["language"] = "C#" } },
        };
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, nb.ToJsonString());
        return path;
    }

    private NotebookResult Run(string path) => NotebookRunner.RunAsync(path, Path.Combine(_dir, "out"), quick: true).GetAwaiter().GetResult();

    private static JsonArray Outputs(string executed, int cell) =>
        (JsonArray)((JsonObject)Notebook.Load(executed).Cells[cell]!)["outputs"]!;

    private static JsonObject Output(string executed, int cell, int index) => (JsonObject)Outputs(executed, cell)[index]!;

    /// <summary>The executed notebook validates against the nbformat 4 schema (Debian's python3-nbformat).</summary>
    private static void AssertValidNbformat(string path)
    {
        Assert.True(HaveNbformat(), "python3-nbformat is missing: tools/install-deps.sh installs it");
        Assert.Null(NbformatError(path));
    }

    [Fact]
    public void AFailingCellNamesCellAndLineAndStopsTheNotebook()
    {
        // A runtime exception: the cell and the exception; no line, since the kernel's frames carry none.
        var r = Run(Write("fail.ipynb", "var a = 1;", "# prose", "var b = 2;\nthrow new InvalidOperationException(\"boom\");", "var c = 3;"));
        Assert.False(r.Succeeded);
        var f = Assert.Single(r.Failures);
        Assert.Equal((3, (int?)null), (f.Cell, f.Line));
        Assert.Equal($"{Path.Combine(_dir, "fail.ipynb")}: cell 3: InvalidOperationException: boom", f.ToString());
        var error = Output(r.OutputNotebook, 2, 0);
        Assert.Equal("error", (string?)error["output_type"]);
        Assert.Contains("boom", (string?)error["traceback"]![0]);
        var later = (JsonObject)Notebook.Load(r.OutputNotebook).Cells[3]!;
        Assert.Empty((JsonArray)later["outputs"]!);                                    // not run after the failure
        Assert.Null(later["execution_count"]);
        AssertValidNbformat(r.OutputNotebook);
        Assert.Contains("InvalidOperationException: boom", File.ReadAllText(r.OutputHtml));

        // A compile error: its first error diagnostic and the line it is on, counted from 1 within the cell.
        var c = Run(Write("compile.ipynb", "int x = 1;", "int y = x;\nint z = y +;", "x"));
        var cf = Assert.Single(c.Failures);
        Assert.Equal((2, (int?)2), (cf.Cell, cf.Line));
        Assert.StartsWith("CS1525: ", cf.Message);
        Assert.Contains("compile.ipynb: cell 2, line 2: CS1525: ", cf.ToString());
        var o = Outputs(c.OutputNotebook, 1).OfType<JsonObject>().ToList();
        Assert.Equal(["stream", "error"], o.Select(x => (string)x["output_type"]!));
        Assert.Contains("CS1525", (string?)o[0]["text"]);                              // the diagnostics, on stderr
        Assert.Equal("compilation error", (string?)o[1]["evalue"]);
        Assert.Empty(Outputs(c.OutputNotebook, 2));
        AssertValidNbformat(c.OutputNotebook);

        // A magic command the kernel does not know is refused by its parser, on its line.
        var m = Run(Write("magic.ipynb", "var ok = 1;\n#!no-such-magic"));
        var mf = Assert.Single(m.Failures);
        Assert.Equal((1, (int?)2), (mf.Cell, mf.Line));
        Assert.StartsWith("DNI101: ", mf.Message);
    }

    /// <summary>A notebook runs with its own folder as the working directory, as under Jupyter, so relative
    /// <c>#load</c> and <c>#r</c> resolve from there; the caller's working directory and CANKIT_QUICK come back.</summary>
    [Fact]
    public void LoadAndReferenceResolveFromTheNotebooksFolder()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "lib"));
        Directory.CreateDirectory(Path.Combine(_dir, "course"));
        File.WriteAllText(Path.Combine(_dir, "course", "setup.csx"), "static int Twice(int v) => 2 * v;");
        var comp = CSharpCompilation.Create("NbHelper", [CSharpSyntaxTree.ParseText("public static class NbHelper { public static int Answer => 42; }")],
            [MetadataReference.CreateFromFile(typeof(object).Assembly.Location)], new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Assert.True(comp.Emit(Path.Combine(_dir, "lib", "NbHelper.dll")).Success);
        string cwd = Directory.GetCurrentDirectory();
        string? quick = Environment.GetEnvironmentVariable("CANKIT_QUICK");
        try
        {
            Directory.SetCurrentDirectory(Path.GetTempPath());                         // resolution must not depend on the caller's directory
            var r = Run(Write(Path.Combine("course", "refs.ipynb"), "#load \"setup.csx\"\n#r \"../lib/NbHelper.dll\"", "Twice(NbHelper.Answer)",
                              "System.IO.Directory.GetCurrentDirectory() + \" \" + Environment.GetEnvironmentVariable(\"CANKIT_QUICK\")"));
            Assert.True(r.Succeeded, string.Join("; ", r.Failures));
            var result = Output(r.OutputNotebook, 1, 0);
            Assert.Equal("execute_result", (string?)result["output_type"]);
            Assert.Equal(2, (int?)result["execution_count"]);
            // Values other than strings come as the kernel formats them for Jupyter and Polyglot: HTML.
            Assert.StartsWith("<div class=\"dni-plaintext\"><pre>84</pre></div>", (string?)result["data"]!["text/html"]);
            Assert.Equal($"{Path.Combine(_dir, "course")} 1", (string?)Output(r.OutputNotebook, 2, 0)["data"]!["text/plain"]);
            Assert.Equal(Path.GetFullPath(Path.GetTempPath()).TrimEnd('/'), Directory.GetCurrentDirectory().TrimEnd('/'));
            Assert.Equal(quick, Environment.GetEnvironmentVariable("CANKIT_QUICK"));
        }
        finally
        {
            Directory.SetCurrentDirectory(cwd);
        }
    }

    /// <summary>Displayed values and their updates (from a later cell too), stdout/stderr, HTML() and trailing values
    /// land in the .ipynb as Jupyter writes them and in the HTML page.</summary>
    [Fact]
    public void DisplayUpdateStreamsAndHtmlRoundTrip()
    {
        var r = Run(Write("display.ipynb",
            "using Microsoft.DotNet.Interactive;\n" +
            "var d = KernelInvocationContext.Current.Display(1);\nConsole.WriteLine(\"out\");\n" +
            "Console.Write(\"more \");\nConsole.Error.WriteLine(\"err\");\nd.Update(\"two\");",
            "HTML(\"<b>bold</b>\")",
            "d.Update(\"three\");\nConsole.WriteLine(\"after <update>\");",
            "var shown = display(4);\nshown.Update(5);"));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        var o = Outputs(r.OutputNotebook, 0).OfType<JsonObject>().ToList();
        Assert.Equal(["display_data", "stream", "stream"], o.Select(x => (string)x["output_type"]!));
        // Updated in place by cell 3, in the mime type the display was made with (an int's: HTML).
        Assert.StartsWith("<div class=\"dni-plaintext\"><pre>three</pre></div>", (string?)o[0]["data"]!["text/html"]);
        Assert.False(string.IsNullOrEmpty((string?)o[0]["metadata"]!["display_id"]));
        Assert.Equal(("stdout", "out\nmore "), ((string?)o[1]["name"], (string?)o[1]["text"]));   // one output per run of writes
        Assert.Equal(("stderr", "err\n"), ((string?)o[2]["name"], (string?)o[2]["text"]));
        var html = Output(r.OutputNotebook, 1, 0);
        Assert.Equal("execute_result", (string?)html["output_type"]);
        Assert.Equal("<b>bold</b>", (string?)html["data"]!["text/html"]);
        Assert.Equal(["stream"], Outputs(r.OutputNotebook, 2).Select(x => (string)x!["output_type"]!));   // an update adds no output
        // The kernel's display() helper (1.0.0-beta.26120.1) returns a handle whose id differs from the one it showed the
        // value under, so its Update names a display nobody has: Jupyter ignores it, and so does this runner.
        Assert.StartsWith("<div class=\"dni-plaintext\"><pre>4</pre></div>", (string?)Assert.Single(Outputs(r.OutputNotebook, 3))!["data"]!["text/html"]);
        AssertValidNbformat(r.OutputNotebook);
        // Round trip: what was written reads back and re-serialises to the same JSON.
        string copy = Path.Combine(_dir, "copy.ipynb");
        Notebook.Load(r.OutputNotebook).Save(copy);
        Assert.Equal(File.ReadAllText(r.OutputNotebook), File.ReadAllText(copy));
        string page = File.ReadAllText(r.OutputHtml);
        Assert.Contains("<div class=\"out\"><b>bold</b></div>", page);
        Assert.Contains("<pre class=\"out\">out\nmore </pre>", page);
        Assert.Contains("<pre class=\"out\">after &lt;update&gt;\n</pre>", page);
        Assert.DoesNotContain("Plotly", page);                                         // no chart, no Plotly.js
    }

    /// <summary><c>#r "nuget: …"</c> restores a package and references its assemblies, as in Polyglot.</summary>
    [Fact]
    public void NugetReferencesRestoreAndLoad()
    {
        var r = Run(Write("nuget.ipynb", "#r \"nuget: Humanizer.Core, 2.14.1\"", "using Humanizer;\n\"PascalCaseInput\".Humanize()"));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        Assert.Equal("Pascal case input", (string?)Output(r.OutputNotebook, 1, 0)["data"]!["text/plain"]);
        AssertValidNbformat(r.OutputNotebook);
    }

    /// <summary>A page with a Plotly chart inlines Plotly.js once (the version Plotly.NET ships) and drops CDN loads,
    /// so it draws offline.</summary>
    [Fact]
    public void PagesWithChartsInlinePlotlyOnce()
    {
        string chart(string id) => $"HTML(\"<script src='https://cdn.plot.ly/plotly-2.0.0.min.js'></script>" +
                                   $"<div id='{id}'></div><script>Plotly.newPlot('{id}', [{{y: [1, 2]}}]);</script>\")";
        var r = Run(Write("chart.ipynb", chart("a"), chart("b")));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        string page = File.ReadAllText(r.OutputHtml);
        string inline = CanKit.Plots.PlotlyJs.InlineScriptTag();
        int at = page.IndexOf(inline, StringComparison.Ordinal);
        Assert.True(at > 0 && at < page.IndexOf("</head>", StringComparison.Ordinal), "Plotly.js is not inlined in the head");
        Assert.Equal(-1, page.IndexOf(inline, at + inline.Length, StringComparison.Ordinal));
        Assert.DoesNotContain("<script src='https://cdn.plot.ly/", page);
        Assert.Contains("plotly-2.0.0.min.js", File.ReadAllText(r.OutputNotebook));            // the notebook keeps what the cell made
    }

    private static string? NbformatError(string path)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-c", "import nbformat,sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))", path }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? null : err;
    }

    private static bool HaveNbformat()
    {
        if (!File.Exists("/usr/bin/python3")) return false;
        using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", "-c \"import nbformat\"") { RedirectStandardError = true })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    /// <summary>The committed course, in quick mode: every notebook runs, its checks pass, and before and after
    /// execution every notebook validates against the nbformat 4 schema (when python3-nbformat is installed).</summary>
    [Fact]
    public void TheCourseRunsInQuickModeAndValidates()
    {
        string root = RepoPaths.Root();
        var notebooks = Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb").Order().ToList();
        Assert.True(notebooks.Count >= 6);
        PackageFeed.Ensure();   // the notebooks restore CanKit.Interactive from the local feed
        bool validate = HaveNbformat();
        foreach (var nb in notebooks)
        {
            Assert.DoesNotContain("\"output_type\": \"error\"", File.ReadAllText(nb));        // no stale errors committed
            Assert.True(new FileInfo(nb).Length < 100_000, $"{nb} is large; commit notebooks without outputs");
            if (validate) Assert.Null(NbformatError(nb));
            var r = Run(nb);
            Assert.True(r.Succeeded, string.Join("; ", r.Failures));
            Assert.Contains("check passed", File.ReadAllText(r.OutputNotebook));
            if (validate) Assert.Null(NbformatError(r.OutputNotebook));
        }
    }
}
