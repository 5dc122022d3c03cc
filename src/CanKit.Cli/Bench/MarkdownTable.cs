using System.Text;

namespace CanKit.Cli.Bench;

/// <summary>A Markdown table padded to line up in a terminal too, so one output serves both.</summary>
internal sealed class MarkdownTable(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    /// <summary>Which columns are numbers (right-aligned).</summary>
    public HashSet<int> RightAligned { get; } = [];

    public void Add(params string[] cells) => _rows.Add(cells);

    public override string ToString()
    {
        int n = headers.Length;
        var width = new int[n];
        foreach (var row in _rows.Prepend(headers))
            for (int i = 0; i < n; i++) width[i] = Math.Max(width[i], Math.Max(3, row[i].Length));
        var sb = new StringBuilder();
        void Line(string[] cells) =>
            sb.Append("| ")
              .AppendJoin(" | ", cells.Select((c, i) => RightAligned.Contains(i) ? c.PadLeft(width[i]) : c.PadRight(width[i])))
              .Append(" |\n");
        Line(headers);
        Line(width.Select((w, i) => RightAligned.Contains(i) ? new string('-', w - 1) + ":" : new string('-', w)).ToArray());
        foreach (var row in _rows) Line(row);
        return sb.ToString();
    }
}
