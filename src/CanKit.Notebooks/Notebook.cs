using System.Text.Json;
using System.Text.Json.Nodes;

namespace CanKit.Notebooks;

/// <summary>
/// A .ipynb file (nbformat 4) as JSON, edited in place so that fields this runner does not know survive a round
/// trip. Cells keep their ids and metadata; sources may be a string or a list of lines, as nbformat allows.
/// </summary>
public sealed class Notebook
{
    public string Path { get; }
    public JsonObject Root { get; }

    private Notebook(string path, JsonObject root) => (Path, Root) = (path, root);

    public static Notebook Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"notebook not found: {path}", path);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message})", e);
        }
        if (node is not JsonObject root || root["cells"] is not JsonArray)
            throw new InvalidDataException($"{path}: not an nbformat 4 notebook (no \"cells\" array)");
        if ((int?)root["nbformat"] is { } v && v != 4) throw new InvalidDataException($"{path}: nbformat {v} is not supported (4 is)");
        return new Notebook(path, root);
    }

    public JsonArray Cells => (JsonArray)Root["cells"]!;

    public static string Source(JsonObject cell) => cell["source"] switch
    {
        JsonArray lines => string.Concat(lines.Select(l => (string?)l ?? "")),
        JsonValue v => (string?)v ?? "",
        _ => "",
    };

    public static bool IsCode(JsonObject cell) => (string?)cell["cell_type"] == "code";

    /// <summary>Writes the notebook (atomically) with the same two-space layout nbformat uses.</summary>
    public void Save(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, Root.ToJsonString(new JsonSerializerOptions
        {
            WriteIndented = true,
            IndentSize = 1,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }) + "\n");
        File.Move(tmp, path, overwrite: true);
    }
}
