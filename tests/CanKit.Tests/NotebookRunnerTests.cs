using System.Diagnostics;
using System.Text.Json.Nodes;
using CanKit.Notebooks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using TorchSharp;
using Xunit;

namespace CanKit.Tests;

/// <summary>The headless notebook runner, on notebooks written here, and the committed course in quick mode.</summary>
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

    [Fact]
    public void AFailingCellNamesCellAndLineAndStopsTheNotebook()
    {
        var r = Run(Write("fail.ipynb", "var a = 1;", "# prose", "var b = 2;\nthrow new InvalidOperationException(\"boom\");", "var c = 3;"));
        Assert.False(r.Succeeded);
        var f = Assert.Single(r.Failures);
        Assert.Equal(3, f.Cell);
        Assert.Equal(2, f.Line);
        Assert.Contains("boom", f.ToString());
        Assert.Contains("fail.ipynb: cell 3, line 2", f.ToString());
        Assert.Equal("error", (string?)((JsonObject)Outputs(r.OutputNotebook, 2)[0]!)["output_type"]);
        Assert.Empty(Outputs(r.OutputNotebook, 3));                  // not run after the failure

        var c = Run(Write("compile.ipynb", "int x = 1;", "int y = x +;"));
        Assert.Equal(2, Assert.Single(c.Failures).Cell);
        Assert.Equal(1, c.Failures[0].Line);
        Assert.Contains("CS1525", c.Failures[0].Message);
    }

    [Fact]
    public void LoadAndReferenceResolveFromTheNotebooksFolder()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "lib"));
        File.WriteAllText(Path.Combine(_dir, "lib", "helpers.csx"), "static int Twice(int v) => 2 * v;");
        var comp = CSharpCompilation.Create("NbHelper", [CSharpSyntaxTree.ParseText("public static class NbHelper { public static int Answer => 42; }")],
            [MetadataReference.CreateFromFile(typeof(object).Assembly.Location)], new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Assert.True(comp.Emit(Path.Combine(_dir, "lib", "NbHelper.dll")).Success);
        Directory.SetCurrentDirectory(Path.GetTempPath());           // resolution must not depend on the working directory
        var r = Run(Write("refs.ipynb", "#load \"lib/helpers.csx\"\n#r \"lib/NbHelper.dll\"", "Twice(NbHelper.Answer)"));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        var result = (JsonObject)Outputs(r.OutputNotebook, 1)[0]!;
        Assert.Equal("execute_result", (string?)result["output_type"]);
        Assert.Equal("84", (string?)result["data"]!["text/plain"]);
    }

    [Fact]
    public void DisplayUpdateStreamsAndHtmlRoundTrip()
    {
        var r = Run(Write("display.ipynb", "var d = display(1);\nConsole.WriteLine(\"out\");\nConsole.Error.WriteLine(\"err\");\nd.Update(\"two\");", "HTML(\"<b>bold</b>\")"));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        var o = Outputs(r.OutputNotebook, 0).OfType<JsonObject>().ToList();
        Assert.Equal(["display_data", "stream", "stream"], o.Select(x => (string)x["output_type"]!));
        Assert.Equal("two", (string?)o[0]["data"]!["text/plain"]);
        Assert.Equal("out\n", (string?)o[1]["text"]);
        Assert.Equal("stderr", (string?)o[2]["name"]);
        var html = (JsonObject)Outputs(r.OutputNotebook, 1)[0]!;
        Assert.Equal("<b>bold</b>", (string?)html["data"]!["text/html"]);
        // Round trip: what was written reads back and re-serialises to the same JSON.
        var again = Notebook.Load(r.OutputNotebook);
        string copy = Path.Combine(_dir, "copy.ipynb");
        again.Save(copy);
        Assert.Equal(File.ReadAllText(r.OutputNotebook), File.ReadAllText(copy));
        Assert.Contains("<b>bold</b>", File.ReadAllText(r.OutputHtml));
    }

    /// <summary>The runner imports what the .NET Interactive kernel imports and no more, so a notebook that runs here
    /// runs there: System.IO must be imported by the cell that uses it.</summary>
    [Fact]
    public void OnlyTheKernelsDefaultNamespacesAreImported()
    {
        var bare = Run(Write("io.ipynb", "var sb = new StringBuilder(\"a\"); var l = new List<int>(); sb.Length + l.Count", "File.Exists(\"x\")"));
        var f = Assert.Single(bare.Failures);
        Assert.Equal(2, f.Cell);
        Assert.Contains("CS0103", f.Message);                              // 'File' does not exist in the current context
        var r = Run(Write("io2.ipynb", "using System.IO;\nFile.Exists(\"/nonexistent-cankit\")"));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        Assert.Equal("False", (string?)Outputs(r.OutputNotebook, 0)[0]!["data"]!["text/plain"]);
    }

    /// <summary>A tensor shows its metadata and its values (TorchSharp's own ToString() gives the metadata only), from a
    /// notebook that references TorchSharp by path as the course does.</summary>
    [Fact]
    public void TensorsShowTheirValues()
    {
        string torchSharp = typeof(torch).Assembly.Location;
        var r = Run(Write("tensor.ipynb", $"#r \"{torchSharp}\"\nusing TorchSharp;", "torch.tensor(new long[] { 1, -20, 3, 4, 5, 6 }).reshape(2, 3)",
                          "torch.tensor(new float[] { 1.5f, -2f }).requires_grad_()"));
        Assert.True(r.Succeeded, string.Join("; ", r.Failures));
        Assert.Equal("[2x3], type = Int64, device = cpu\n[[1, -20, 3]\n [4, 5, 6]]", (string?)Outputs(r.OutputNotebook, 1)[0]!["data"]!["text/plain"]);
        Assert.Equal("[2], type = Float32, device = cpu, requires_grad\n[1.5, -2]", (string?)Outputs(r.OutputNotebook, 2)[0]!["data"]!["text/plain"]);
        var disposed = torch.ones(2);
        disposed.Dispose();
        Assert.Equal("tensor(<disposed>)", Formatter.TensorText(disposed));
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "CanKit.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("CanKit.sln not found above the test folder");
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
        string root = RepoRoot();
        var notebooks = Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb").Order().ToList();
        Assert.True(notebooks.Count >= 6);
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
