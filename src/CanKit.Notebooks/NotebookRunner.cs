using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;
using Microsoft.DotNet.Interactive.PackageManagement;

namespace CanKit.Notebooks;

/// <summary>One failed cell: where, and the compiler's or the exception's message.</summary>
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
/// Runs Polyglot / Jupyter C# notebooks headless on the .NET Interactive C# kernel hosted in this process — the
/// kernel Polyglot Notebooks and Jupyter's <c>.net-csharp</c> run, so the same compiler, directives (<c>#r</c>,
/// <c>#r "nuget: …"</c>, <c>#load</c>, <c>#i</c>, <c>#!who</c>, <c>#!set</c>), <c>display()</c>/<c>HTML()</c> and
/// formatters. Each notebook gets a fresh kernel and runs with its own folder as the working directory, as under
/// Jupyter (the kernel resolves relative <c>#r</c>/<c>#load</c> paths against it). Writes the executed .ipynb
/// (outputs as Jupyter writes them) and a self-contained HTML page. A failing cell stops the notebook and is
/// reported with its cell number, and its line where the kernel gives one (compile errors).
/// </summary>
public static class NotebookRunner
{
    // The working directory and CANKIT_QUICK belong to the process, so one notebook runs at a time.
    private static readonly SemaphoreSlim RunLock = new(1, 1);

    public static async Task<NotebookResult> RunAsync(string path, string outDir, bool quick, TextWriter? log = null)
    {
        var nb = Notebook.Load(path);
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string name = Path.GetFileNameWithoutExtension(path);
        string outNb = Path.Combine(outDir, name + ".ipynb"), outHtml = Path.Combine(outDir, name + ".html");
        // Full paths, taken before the run moves the working directory.
        string fullNb = Path.GetFullPath(outNb), fullHtml = Path.GetFullPath(outHtml);
        var failures = new List<CellFailure>();
        await RunLock.WaitAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string cwd = Directory.GetCurrentDirectory();
        string? quickBefore = Environment.GetEnvironmentVariable("CANKIT_QUICK");
        try
        {
            Directory.SetCurrentDirectory(dir);
            if (quick) Environment.SetEnvironmentVariable("CANKIT_QUICK", "1");
            using var kernel = CreateKernel();
            var displays = new Dictionary<string, JsonObject>();   // display id → its display_data output, for updates
            int count = 0;
            var cells = nb.Cells.OfType<JsonObject>().ToList();
            for (int i = 0; i < cells.Count; i++)
            {
                var cell = cells[i];
                if (!Notebook.IsCode(cell)) continue;
                var outputs = new JsonArray();
                cell["outputs"] = outputs;
                cell["execution_count"] = null;
                if (failures.Count > 0) continue;   // later cells are left unexecuted after a failure
                cell["execution_count"] = ++count;
                log?.WriteLine($"  {name}: cell {i + 1}");
                var result = await kernel.SendAsync(new SubmitCode(Notebook.Source(cell)));
                Diagnostic? error = null;
                foreach (var e in result.Events)
                    if (Record(e, outputs, displays, count, path, i + 1, ref error) is { } failure) failures.Add(failure);
            }
        }
        finally
        {
            Directory.SetCurrentDirectory(cwd);
            if (quick) Environment.SetEnvironmentVariable("CANKIT_QUICK", quickBefore);
            RunLock.Release();
        }
        var elapsed = clock.Elapsed;
        nb.Save(fullNb);
        File.WriteAllText(fullHtml, NotebookHtml.Render(nb, name));
        return new NotebookResult(path, outNb, outHtml, failures, elapsed);
    }

    /// <summary>A composite kernel with the C# kernel set up as the dotnet-interactive tool sets it up.</summary>
    private static CompositeKernel CreateKernel()
    {
        // The tool's set-up for Jupyter and Polyglot front ends: values as HTML (the formatter's default), strings as plain text.
        Formatter.SetPreferredMimeTypesFor(typeof(string), PlainTextFormatter.MimeType);
        var csharp = new CSharpKernel()
            .UseNugetDirective((k, refs) =>
            {
                k.AddAssemblyReferences(refs.SelectMany(r => r.AssemblyPaths));
                return Task.CompletedTask;
            })
            .UseKernelHelpers()
            .UseWho()
            .UseValueSharing();
        var kernel = new CompositeKernel { csharp };
        kernel.DefaultKernelName = csharp.Name;
        return kernel;
    }

    /// <summary>Adds one kernel event to the cell's outputs as the kernel's Jupyter front end writes them; returns the
    /// failure a CommandFailed means (its line from the first error diagnostic the cell produced).</summary>
    private static CellFailure? Record(KernelEvent e, JsonArray outputs, Dictionary<string, JsonObject> displays, int count,
                                       string path, int cell, ref Diagnostic? error)
    {
        switch (e)
        {
            case StandardOutputValueProduced o:
                Stream(outputs, "stdout", Text(o));
                break;
            case StandardErrorValueProduced or ErrorProduced:
                Stream(outputs, "stderr", Text((DisplayEvent)e));
                break;
            case DiagnosticsProduced d:
                // Compiler errors and warnings go to stderr, spaced apart, as the Jupyter front end sends them.
                // Left out: CS1702 ("assuming assembly reference … matches …"), on every cell that uses HTML(), because
                // NuGet resolves Microsoft.AspNetCore.Html.Abstractions 2.3.13 for the 2.3.0 the kernel was built against
                // (NU1603); it says nothing about the notebook. Formatted diagnostics come in the order of Diagnostics.
                var shown = d.Diagnostics.Zip(d.FormattedDiagnostics).Where(p => p.First.Code != "CS1702").Select(p => p.Second.Value).ToList();
                if (shown.Count > 0) Stream(outputs, "stderr", "\n" + string.Join("\n\n", shown) + "\n\n");
                error ??= d.Diagnostics.FirstOrDefault(x => x.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error);
                break;
            case DisplayedValueUpdated u:
                // Jupyter replaces the output shown under that display id, in whichever cell it is.
                if (u.ValueId is { } id && displays.TryGetValue(id, out var shownBefore)) shownBefore["data"] = Bundle(u);
                break;
            case ReturnValueProduced r:
                outputs.Add(new JsonObject { ["output_type"] = "execute_result", ["execution_count"] = count,
                                             ["data"] = Bundle(r), ["metadata"] = new JsonObject() });
                break;
            case DisplayedValueProduced d:
                var output = new JsonObject { ["output_type"] = "display_data", ["data"] = Bundle(d), ["metadata"] = new JsonObject() };
                if (d.ValueId is { } valueId)
                {
                    output["metadata"]!["display_id"] = valueId;
                    displays[valueId] = output;
                }
                outputs.Add(output);
                break;
            case CommandFailed f:
                return Failure(f, error, outputs, path, cell);
        }
        return null;
    }

    private static string Text(DisplayEvent e) =>
        e.FormattedValues.FirstOrDefault(v => v.MimeType == "text/plain")?.Value ?? e.Value?.ToString() ?? "";

    private static JsonObject Bundle(DisplayEvent e)
    {
        var data = new JsonObject();
        foreach (var v in e.FormattedValues) data[v.MimeType] = v.Value;
        return data;
    }

    /// <summary>Consecutive writes to one stream make one output, as Jupyter merges them.</summary>
    private static void Stream(JsonArray outputs, string name, string text)
    {
        if (outputs.Count > 0 && outputs[^1] is JsonObject last && (string?)last["output_type"] == "stream" && (string?)last["name"] == name)
            last["text"] = (string?)last["text"] + text;
        else
            outputs.Add(new JsonObject { ["output_type"] = "stream", ["name"] = name, ["text"] = text });
    }

    /// <summary>
    /// A compile error (or a bad directive) is reported with its first error diagnostic and that line; a runtime
    /// exception with its type and message and no line: the kernel compiles cells without debug information, so its
    /// stack frames (<c>Submission#N</c>) carry no line numbers. The error output is the one the kernel's Jupyter
    /// front end writes.
    /// </summary>
    private static CellFailure Failure(CommandFailed f, Diagnostic? error, JsonArray outputs, string path, int cell)
    {
        var traceback = new JsonArray();
        string evalue = f.Message, message = f.Message;
        switch (f.Exception)
        {
            case CodeSubmissionCompilationErrorException:
                evalue = "compilation error";   // the diagnostics are in stderr already
                break;
            case null:
                traceback.Add(f.Message);
                break;
            case var ex:
                traceback.Add(ex.ToString());
                foreach (var l in (ex.StackTrace ?? "").Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)) traceback.Add(l);
                message = $"{ex.GetType().Name}: {ex.Message}";
                break;
        }
        outputs.Add(new JsonObject { ["output_type"] = "error", ["ename"] = "Error", ["evalue"] = evalue, ["traceback"] = traceback });
        if (error is not null) return new CellFailure(path, cell, error.LinePositionSpan.Start.Line + 1, $"{error.Code}: {error.Message}");
        return new CellFailure(path, cell, null, message);
    }
}
