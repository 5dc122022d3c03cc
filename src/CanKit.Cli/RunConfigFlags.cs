using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using CanKit.Training;

namespace CanKit.Cli;

/// <summary>
/// <c>pretrain</c>'s <c>--config FILE</c> (a run.json to start from), <c>--set Field=Value</c> (one field of the run
/// description by its JSON name, <c>Can.MaskRatio=0.6</c> for nested ones), <c>--weight-decay</c> and <c>--clip-norm</c>.
/// Precedence: the config, then the flags given on the command line, then <c>--set</c>; everything is merged on the
/// JSON and checked by <see cref="RunSpec.Parse"/>'s rules.
/// </summary>
internal sealed class RunConfigFlags
{
    // Named literals let a flag's NaN reach Validate, which names the flag.
    private static readonly JsonSerializerOptions Types = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(), NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public Option<string?> Config { get; } = new("--config")
    {
        Description = "start from this run.json (e.g. another run's); flags given on the command line override its fields",
        HelpName = "FILE",
    };

    public Option<string[]> Set { get; } = new("--set")
    {
        Description = "override one field of the run description by its run.json name, e.g. --set Can.MaskRatio=0.6 (repeatable)",
        HelpName = "Field=Value",
    };

    public Option<double> WeightDecay { get; } = new("--weight-decay")
    {
        Description = "AdamW's decoupled weight decay", DefaultValueFactory = _ => RunSpec.DefaultWeightDecay,
    };

    public Option<double> ClipNorm { get; } = new("--clip-norm")
    {
        Description = "clip the global gradient norm to this (0: off)", DefaultValueFactory = _ => RunSpec.DefaultClipNorm,
    };

    public IEnumerable<Option> All => [Config, Set, WeightDecay, ClipNorm];

    /// <summary>
    /// The run <paramref name="fromFlags"/> (built from every flag of <paramref name="command"/>, defaults included) merged
    /// over <c>--config</c>'s and under <c>--set</c>'s; flag values are checked naming the flag (<paramref name="flagOf"/>).
    /// </summary>
    public RunSpec Build(ParseResult r, Command command, RunSpec fromFlags, IReadOnlyDictionary<string, string> flags,
                         Func<string, string> flagOf)
    {
        var flagsJson = JsonSerializer.SerializeToNode(fromFlags, Types)!.AsObject();
        JsonObject json;
        if (r.GetValue(Config) is { } file)
        {
            json = JsonNode.Parse(LoadConfig(file).ToJson())!.AsObject();
            var given = command.Options.Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToHashSet();
            foreach (var (field, flag) in flags)
                if (given.Contains(flag) && Resolve(field) is { } path)
                    Put(json, path, Get(flagsJson, path).Value?.DeepClone());   // absent from the flags' JSON: the default (null, 0)
        }
        else json = flagsJson;
        var spec = Deserialize(json).Validate(flagOf);
        foreach (string item in r.GetValue(Set) ?? [])
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ArgumentException($"--set: expected Field=Value (e.g. Can.MaskRatio=0.6), got '{item}'");
            string field = item[..eq].Trim(), text = item[(eq + 1)..];
            var path = Resolve(field)
                       ?? throw new ArgumentException($"--set: unknown field '{field}' (fields: {string.Join(", ", Fields())})");
            var current = Get(json, path).Value;
            Put(json, path, current is JsonValue v && v.GetValueKind() == JsonValueKind.String ? JsonValue.Create(text) : ParseValue(text));
            try { spec = RunSpec.Parse(json.ToJsonString(), $"--set {item}"); }
            catch (InvalidDataException e) { throw new ArgumentException(e.Message, e); }
        }
        return spec;
    }

    private static RunSpec LoadConfig(string file)
    {
        try { return RunSpec.Parse(File.ReadAllText(file), file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            string why = e is InvalidDataException ? e.Message : $"{file}: {e.Message.Split('\n')[0].TrimEnd()}";
            throw new ArgumentException($"--config: {why}", e);
        }
    }

    private static RunSpec Deserialize(JsonObject json) => json.Deserialize<RunSpec>(Types)!;

    /// <summary>A value as JSON (number, true, false, null, object) or, when it is not JSON, as a string.</summary>
    private static JsonNode? ParseValue(string text)
    {
        try { return JsonNode.Parse(text); }
        catch (JsonException) { return JsonValue.Create(text); }
    }

    /// <summary>The JSON property names along <paramref name="field"/> (dot-separated, any case), or null when there is none.</summary>
    private static string[]? Resolve(string field)
    {
        var type = typeof(RunSpec);
        var parts = field.Split('.');
        for (int i = 0; i < parts.Length; i++)
        {
            var p = Types.GetTypeInfo(type).Properties.FirstOrDefault(q => q.Name.Equals(parts[i], StringComparison.OrdinalIgnoreCase));
            if (p is null) return null;
            parts[i] = p.Name;
            type = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
        }
        return parts;
    }

    private static IEnumerable<string> Fields()
    {
        foreach (var p in Types.GetTypeInfo(typeof(RunSpec)).Properties)
        {
            yield return p.Name;
            if (p.Name == nameof(RunSpec.Can))
                foreach (var c in Types.GetTypeInfo(typeof(Methods.CanOverrides)).Properties) yield return $"{p.Name}.{c.Name}";
        }
    }

    private static (bool Found, JsonNode? Value) Get(JsonObject json, string[] path)
    {
        JsonNode? node = json;
        foreach (string part in path)
        {
            if (node is not JsonObject o || !o.TryGetPropertyValue(part, out var next)) return (false, null);
            node = next;
        }
        return (true, node);
    }

    private static void Put(JsonObject json, string[] path, JsonNode? value)
    {
        var o = json;
        foreach (string part in path[..^1])
        {
            if (o[part] is not JsonObject child) o[part] = child = [];
            o = child;
        }
        if (value is null && path.Length == 1) o.Remove(path[0]);   // run.json leaves unset top-level fields out (Holdout 0)
        else o[path[^1]] = value;
    }
}
