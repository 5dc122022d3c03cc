using System.Text.Json;
using CanKit.Catalog;
using CanKit.Methods;

namespace CanKit.Ablation;

/// <summary>
/// A row a user defines for <c>cankit ablate --rows FILE</c>: a run of <see cref="Method"/> (can, cmae, mae or simclr at
/// its preset) under its own <see cref="Name"/>, with CAN's settings changed by <see cref="Can"/> (CAN rows only).
/// </summary>
public sealed record UserRow(string Name, string Method, CanOverrides? Can = null);

/// <summary>
/// Reads a user's ablation table from JSON:
/// <code>
/// { "name": "can-sigma", "title": "CAN: the noise's σmax",
///   "rows": [ { "name": "can" },
///             { "name": "can-sigma-0.2", "method": "can", "can": { "SigmaMax": 0.2 } } ],
///   "claims": [ { "id": "s1", "text": "σmax 0.2 beats 0.05", "better": "can-sigma-0.2", "worse": "can" } ] }
/// </code>
/// A row with only a name is a registered row (<see cref="AblationTables"/>); a row with a method is the user's, under a name
/// no registered row has. Anything else — unknown fields, a duplicate or unknown name, a claim naming a row the table
/// lacks, an out-of-range setting — is an <see cref="InvalidDataException"/> naming the file and the field.
/// </summary>
public static class AblationRowsFile
{
    private static readonly string[] TableFields = ["name", "title", "rows", "claims"], RowFields = ["name", "method", "can"],
                                     ClaimFields = ["id", "text", "better", "worse", "source"];

    public static (AblationTable Table, IReadOnlyList<UserRow> UserRows) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such rows file", path);
        JsonDocument doc;
        var options = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };
        try { doc = JsonDocument.Parse(File.ReadAllText(path), options); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not JSON ({e.Message})", e); }
        using (doc)
        {
            var root = doc.RootElement;
            Fields(path, "the table", root, TableFields);
            string name = Text(path, "name", root, "name"), title = Optional(path, "title", root, "title") ?? name;
            var rows = new List<MethodSpec>();
            var users = new List<UserRow>();
            int i = 0;
            foreach (var r in Array(path, "rows", root, "rows"))
            {
                string at = $"rows[{i++}]";
                Fields(path, at, r, RowFields);
                string row = Text(path, $"{at}.name", r, "name").ToLowerInvariant();
                if (rows.Any(x => x.Name == row)) throw new InvalidDataException($"{path}: {at}.name: '{row}' appears twice");
                if (row == AblationRunner.PixelsRow) throw new InvalidDataException($"{path}: {at}.name: '{row}' names the raw-pixel row every table has");
                var registered = AblationTables.Rows.FirstOrDefault(x => x.Name == row)
                                 ?? (MethodCatalog.Methods.Contains(row) ? MethodCatalog.Parse(row) : null);
                if (Optional(path, $"{at}.method", r, "method") is not { } method)
                {
                    if (r.TryGetProperty("can", out _)) throw new InvalidDataException($"{path}: {at}.can: give the row a method (\"method\": \"can\")");
                    rows.Add(registered ?? throw new InvalidDataException(
                        $"{path}: {at}.name: '{row}' is not a registered row; give it a method (can, cmae, mae or simclr) to define it " +
                        $"(registered: {string.Join(", ", MethodCatalog.Methods.Concat(AblationTables.Rows.Select(x => x.Name)).Distinct())})"));
                    continue;
                }
                if (registered is not null)
                    throw new InvalidDataException($"{path}: {at}.name: '{row}' is a registered row; give your row another name");
                method = method.ToLowerInvariant();
                if (!MethodCatalog.Methods.Contains(method))
                    throw new InvalidDataException($"{path}: {at}.method: '{method}' (expected {string.Join(", ", MethodCatalog.Methods)})");
                var user = new UserRow(row, method, r.TryGetProperty("can", out var can) ? Overrides(path, $"{at}.can", can, method) : null);
                users.Add(user);
                rows.Add(Spec(user));
            }
            if (rows.Count < 2) throw new InvalidDataException($"{path}: rows: a table needs at least two rows, got {rows.Count}");
            var claims = new List<AblationClaim>();
            i = 0;
            foreach (var c in root.TryGetProperty("claims", out _) ? Array(path, "claims", root, "claims") : [])
            {
                string at = $"claims[{i++}]";
                Fields(path, at, c, ClaimFields);
                string better = Text(path, $"{at}.better", c, "better").ToLowerInvariant(), worse = Text(path, $"{at}.worse", c, "worse").ToLowerInvariant();
                foreach (var (field, r) in new[] { ("better", better), ("worse", worse) })
                    if (rows.All(x => x.Name != r)) throw new InvalidDataException($"{path}: {at}.{field}: '{r}' is not a row of this table");
                claims.Add(new AblationClaim(Text(path, $"{at}.id", c, "id"), Text(path, $"{at}.text", c, "text"),
                                             Optional(path, $"{at}.source", c, "source") ?? path, better, worse));
            }
            return (new AblationTable(name, title, rows, claims, $"defined in {Path.GetFileName(path)}"), users);
        }
    }

    /// <summary>
    /// The row as its table lists it: its method's preset with its CAN settings applied, under its own name. What a run
    /// trains is built from its run spec (<see cref="AblationSettings.Spec"/>: the method, the settings and the suite's
    /// decoder), which is also what its run.json stores.
    /// </summary>
    public static MethodSpec Spec(UserRow row)
    {
        var spec = MethodCatalog.Parse(row.Method) with { Name = row.Name };
        return row.Can is null ? spec : spec with { Can = row.Can.Apply(spec.Can ?? CanConfig.Paper) };
    }

    private static CanOverrides Overrides(string path, string at, JsonElement e, string method)
    {
        if (method != "can") throw new InvalidDataException($"{path}: {at}: only CAN rows take settings (this row's method is {method})");
        var names = typeof(CanOverrides).GetProperties().Select(p => p.Name).ToArray();
        Fields(path, at, e, names);
        CanOverrides o;
        try { o = e.Deserialize<CanOverrides>() ?? throw new InvalidDataException($"{path}: {at}: null"); }
        catch (JsonException x) { throw new InvalidDataException($"{path}: {at}: {x.Message}", x); }
        try { o.Apply(CanConfig.Paper); }
        catch (ArgumentOutOfRangeException x) { throw new InvalidDataException($"{path}: {at}.{x.ParamName}: {x.Message.Split(" (Parameter")[0]}", x); }
        return o;
    }

    private static void Fields(string path, string at, JsonElement e, string[] allowed)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: {at}: expected an object, got {e.ValueKind}");
        foreach (var p in e.EnumerateObject())
            if (!allowed.Contains(p.Name))
                throw new InvalidDataException($"{path}: {at}: unknown field '{p.Name}' (fields: {string.Join(", ", allowed)})");
    }

    private static string Text(string path, string at, JsonElement e, string field) =>
        Optional(path, at, e, field) is { Length: > 0 } s ? s : throw new InvalidDataException($"{path}: {at}: missing or empty");

    private static string? Optional(string path, string at, JsonElement e, string field) =>
        !e.TryGetProperty(field, out var v) ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()!.Trim()
        : throw new InvalidDataException($"{path}: {at}: expected a string, got {v.ValueKind}");

    private static IEnumerable<JsonElement> Array(string path, string at, JsonElement e, string field) =>
        e.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().ToList()
            : throw new InvalidDataException($"{path}: {at}: expected an array");
}
