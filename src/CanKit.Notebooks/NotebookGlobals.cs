using System.Text.Json.Nodes;

namespace CanKit.Notebooks;

/// <summary>
/// What a notebook cell can call besides its own code: <c>display(x)</c> (returns a handle with <c>Update</c>),
/// <c>HTML(s)</c>, and <c>x.Display()</c> (an extension). Outputs go to the cell being run.
/// </summary>
public class NotebookGlobals
{
    [ThreadStatic] private static NotebookGlobals? _current;
    internal JsonArray? Outputs;

    internal static NotebookGlobals Current => _current ?? throw new InvalidOperationException("display() works inside a running notebook cell");

    internal void Enter(JsonArray outputs)
    {
        Outputs = outputs;
        _current = this;
    }

    /// <summary>Shows <paramref name="value"/> below the cell; the handle can replace it later.</summary>
    public DisplayHandle display(object? value)
    {
        var output = new JsonObject
        {
            ["output_type"] = "display_data",
            ["data"] = Formatter.MimeBundle(value),
            ["metadata"] = new JsonObject { ["display_id"] = Guid.NewGuid().ToString("N") },
        };
        (Outputs ?? throw new InvalidOperationException("no cell is running")).Add(output);
        return new DisplayHandle(output);
    }

    /// <summary>Marks a string as HTML for display.</summary>
    public HtmlString HTML(string html) => new(html);
}

public static class DisplayExtensions
{
    /// <summary>Displays the value below the running cell (as Polyglot's <c>.Display()</c>).</summary>
    public static DisplayHandle Display(this object? value) => NotebookGlobals.Current.display(value);
}
