using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace CanKit.Notebooks;

/// <summary>One failed cell: where, and libtorch's/Roslyn's message.</summary>
public sealed record CellFailure(string Notebook, int Cell, int? Line, string Message)
{
    public override string ToString() => $"{Notebook}: cell {Cell}{(Line is { } l ? $", line {l}" : "")}: {Message}";
}

/// <summary>The result of running one notebook.</summary>
public sealed record NotebookResult(string Path, string OutputNotebook, string OutputHtml, IReadOnlyList<CellFailure> Failures, TimeSpan Elapsed)
{
    public bool Succeeded => Failures.Count == 0;
}

/// <summary>
/// Runs Polyglot (.NET Interactive) C# notebooks headless on Roslyn scripting — the compiler engine of the .NET
/// Interactive C# kernel — one script state per notebook, cell after cell. Supports <c>#r "file.dll"</c> and
/// <c>#load "file.csx"</c> relative to the notebook's folder, <c>display(x)</c>/<c>.Display()</c> with
/// <c>Update</c>, <c>HTML(s)</c>, trailing expression values, stdout/stderr. Writes the executed .ipynb (outputs as
/// Polyglot writes them) and a self-contained HTML page. A failing cell stops the notebook and is reported with its
/// cell number and line.
/// </summary>
public sealed class NotebookRunner
{
    private static readonly SemaphoreSlim ConsoleLock = new(1, 1);

    /// <summary>The namespaces the .NET Interactive C# kernel imports into every submission.</summary>
    public static readonly IReadOnlyList<string> KernelImports =
        ["System", "System.Text", "System.Collections", "System.Collections.Generic", "System.Threading.Tasks", "System.Linq"];

    public static async Task<NotebookResult> RunAsync(string path, string outDir, bool quick, TextWriter? log = null)
    {
        var nb = Notebook.Load(path);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string name = Path.GetFileNameWithoutExtension(path);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (quick) Environment.SetEnvironmentVariable("CANKIT_QUICK", "1");
        var options = ScriptOptions.Default
            .WithFilePath(Path.Combine(dir, name + ".csx"))
            .WithSourceResolver(new SourceFileResolver(ImmutableArray<string>.Empty, dir))
            .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(dir))
            .WithReferences(typeof(NotebookGlobals).Assembly, typeof(object).Assembly, typeof(Enumerable).Assembly)
            // The .NET Interactive C# kernel's default imports, no more (it has no System.IO: cells that need it say so),
            // plus display()/HTML(), which the kernel provides itself.
            .WithImports(KernelImports.Append("CanKit.Notebooks"))
            .WithEmitDebugInformation(true);
        var globals = new NotebookGlobals();
        ScriptState<object>? state = null;
        var failures = new List<CellFailure>();
        int count = 0;
        var cells = nb.Cells.OfType<JsonObject>().ToList();
        for (int i = 0; i < cells.Count; i++)
        {
            var cell = cells[i];
            if (!Notebook.IsCode(cell)) continue;
            count++;
            var outputs = new JsonArray();
            cell["outputs"] = outputs;
            cell["execution_count"] = count;
            if (failures.Count > 0) continue;   // later cells are left unexecuted after a failure
            string code = Notebook.Source(cell);
            log?.WriteLine($"  {name}: cell {i + 1}");
            await ConsoleLock.WaitAsync();
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (stdout, stderr) = (new StringWriter(), new StringWriter());
            Console.SetOut(stdout);
            Console.SetError(stderr);
            globals.Enter(outputs);
            try
            {
                // From a UTF-8 stream, so Roslyn can emit debug information and runtime errors carry cell lines.
                using var source = new MemoryStream(Encoding.UTF8.GetBytes(code));
                var script = state is null ? CSharpScript.Create(source, options, typeof(NotebookGlobals)) : state.Script.ContinueWith(source, options);
                state = state is null ? await script.RunAsync(globals) : await script.RunFromAsync(state);
                Stream(outputs, "stdout", stdout);
                Stream(outputs, "stderr", stderr);
                if (state.ReturnValue is { } value)
                    outputs.Add(new JsonObject { ["output_type"] = "execute_result", ["execution_count"] = count, ["data"] = Formatter.MimeBundle(value), ["metadata"] = new JsonObject() });
            }
            catch (CompilationErrorException e)
            {
                Stream(outputs, "stdout", stdout);
                var first = e.Diagnostics.First(d => d.Severity == DiagnosticSeverity.Error);
                int line = first.Location.GetLineSpan().StartLinePosition.Line + 1;
                failures.Add(new CellFailure(path, i + 1, line, first.ToString()));
                outputs.Add(Error("CompilationError", string.Join("\n", e.Diagnostics.Select(d => d.ToString()))));
            }
            catch (Exception e)
            {
                Stream(outputs, "stdout", stdout);
                Stream(outputs, "stderr", stderr);
                var ex = e is AggregateException { InnerException: { } inner } ? inner : e;
                failures.Add(new CellFailure(path, i + 1, LineInCell(ex, options.FilePath), $"{ex.GetType().Name}: {ex.Message}"));
                outputs.Add(Error(ex.GetType().Name, ex.Message, ex.StackTrace));
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
                ConsoleLock.Release();
            }
        }
        Directory.CreateDirectory(outDir);
        string outNb = Path.Combine(outDir, name + ".ipynb"), outHtml = Path.Combine(outDir, name + ".html");
        nb.Save(outNb);
        File.WriteAllText(outHtml, NotebookHtml.Render(nb, name));
        return new NotebookResult(path, outNb, outHtml, failures, clock.Elapsed);
    }

    private static void Stream(JsonArray outputs, string name, StringWriter w)
    {
        string text = w.ToString();
        if (text.Length > 0) outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = name, ["text"] = Formatter.Truncate(text) });
        w.GetStringBuilder().Clear();
    }

    private static JsonObject Error(string name, string message, string? trace = null) => new()
    {
        ["output_type"] = "error",
        ["ename"] = name,
        ["evalue"] = message,
        ["traceback"] = new JsonArray((trace ?? message).Split('\n').Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
    };

    /// <summary>The cell line of the innermost stack frame in the notebook's script (Roslyn numbers each submission from 1).</summary>
    private static int? LineInCell(Exception e, string scriptPath)
    {
        var trace = new System.Diagnostics.StackTrace(e, fNeedFileInfo: true);
        foreach (var frame in trace.GetFrames())
            if (frame.GetFileName() is { } f && f == scriptPath && frame.GetFileLineNumber() > 0) return frame.GetFileLineNumber();
        return null;
    }
}
