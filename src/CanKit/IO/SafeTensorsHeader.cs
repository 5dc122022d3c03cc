using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace CanKit.IO;

/// <summary>
/// The parsed, validated header of a safetensors file: the tensor entries in header order, the optional
/// <c>__metadata__</c> strings, and where the data buffer starts. Every entry's range lies inside the buffer,
/// matches its shape and dtype, and overlaps no other entry.
/// </summary>
public sealed class SafeTensorsHeader
{
    /// <summary>Upper bound on the JSON header size; the official implementation uses the same 100 MB limit.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    internal const string MetadataKey = "__metadata__";

    internal SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string> metadata,
                               long dataStart, long bufferLength)
    {
        Entries = entries;
        Metadata = metadata;
        DataStart = dataStart;
        BufferLength = bufferLength;
    }

    /// <summary>The tensors, in the order the header lists them.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Absolute file offset of the data buffer: 8 + the header length.</summary>
    public long DataStart { get; }

    /// <summary>Bytes in the data buffer (file length − <see cref="DataStart"/>).</summary>
    public long BufferLength { get; }

    /// <summary>Reads and validates the length prefix and JSON header of <paramref name="file"/>.</summary>
    internal static SafeTensorsHeader Read(Stream file, string path)
    {
        long length = file.Length;
        if (length < 8)
            throw Bad(path, $"the file is {length} bytes long, too short for the 8-byte header length prefix");
        Span<byte> prefix = stackalloc byte[8];
        file.Position = 0;
        file.ReadExactly(prefix);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n > (ulong)(length - 8))
            throw Bad(path, $"the header length {n} runs past the end of the file ({length - 8} bytes follow the length prefix)");
        if (n > MaxHeaderBytes)
            throw Bad(path, $"the header length {n} exceeds the {MaxHeaderBytes}-byte limit");
        var json = new byte[n];
        file.ReadExactly(json);
        return Parse(json, 8 + (long)n, length - 8 - (long)n, path);
    }

    /// <summary>Parses and validates the JSON header against a data buffer of <paramref name="bufferLength"/> bytes.</summary>
    internal static SafeTensorsHeader Parse(byte[] json, long dataStart, long bufferLength, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw Bad(path, $"the header is not valid JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, $"the header must be a JSON object but is a {doc.RootElement.ValueKind}");
            var entries = new List<SafeTensorsEntry>();
            var metadata = new Dictionary<string, string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            try
            {
                foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                {
                    if (!seen.Add(p.Name)) throw Bad(path, $"the header lists '{p.Name}' twice");
                    if (p.Name == MetadataKey) ReadMetadata(p.Value, metadata, path);
                    else entries.Add(ReadEntry(p.Name, p.Value, bufferLength, path));
                }
            }
            catch (InvalidOperationException e) // a string that is not valid UTF-8
            {
                throw Bad(path, $"the header holds an unreadable string ({e.Message})");
            }
            CheckNoOverlap(entries, path);
            return new SafeTensorsHeader(entries, metadata, dataStart, bufferLength);
        }
    }

    private static void ReadMetadata(JsonElement v, Dictionary<string, string> into, string path)
    {
        if (v.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"{MetadataKey} must be a JSON object of strings but is a {v.ValueKind}");
        foreach (JsonProperty m in v.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw Bad(path, $"{MetadataKey} value '{m.Name}' must be a string but is a {m.Value.ValueKind}");
            into[m.Name] = m.Value.GetString()!;
        }
    }

    private static SafeTensorsEntry ReadEntry(string name, JsonElement v, long bufferLength, string path)
    {
        string where = $"tensor '{name}'";
        if (v.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"{where}: the entry must be a JSON object but is a {v.ValueKind}");

        if (!v.TryGetProperty("dtype", out JsonElement dt)) throw Bad(path, $"{where}: missing 'dtype'");
        if (dt.ValueKind != JsonValueKind.String) throw Bad(path, $"{where}: 'dtype' must be a string but is a {dt.ValueKind}");
        string code = dt.GetString()!;
        if (!SafeTensorsDTypes.TryParse(code, out ScalarType dtype))
            throw Bad(path, SafeTensorsDTypes.IsKnownUnsupported(code)
                ? $"{where}: dtype '{code}' is not supported by CanKit"
                : $"{where}: unknown dtype '{code}'");

        long[] shape = ReadIntArray(v, "shape", -1, where, path);
        long numel = 1;
        foreach (long d in shape)
        {
            try { numel = checked(numel * d); }
            catch (OverflowException) { throw Bad(path, $"{where}: the element count of shape [{string.Join(", ", shape)}] overflows"); }
        }
        long byteLength;
        try { byteLength = checked(numel * SafeTensorsDTypes.ElementSize(dtype)); }
        catch (OverflowException) { throw Bad(path, $"{where}: the byte size of shape [{string.Join(", ", shape)}] overflows"); }

        long[] off = ReadIntArray(v, "data_offsets", 2, where, path);
        long begin = off[0], end = off[1];
        if (end < begin) throw Bad(path, $"{where}: data_offsets [{begin}, {end}] end before they begin");
        if (end > bufferLength)
            throw Bad(path, $"{where}: data_offsets [{begin}, {end}] run past the end of the {bufferLength}-byte data buffer");
        if (end - begin != byteLength)
            throw Bad(path, $"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes but shape " +
                            $"[{string.Join(", ", shape)}] of {code} needs {byteLength} bytes");
        return new SafeTensorsEntry(name, dtype, shape, begin, end);
    }

    // An array of non-negative integers; exactly `count` of them unless count is -1.
    private static long[] ReadIntArray(JsonElement v, string field, int count, string where, string path)
    {
        if (!v.TryGetProperty(field, out JsonElement a)) throw Bad(path, $"{where}: missing '{field}'");
        if (a.ValueKind != JsonValueKind.Array) throw Bad(path, $"{where}: '{field}' must be an array but is a {a.ValueKind}");
        int n = a.GetArrayLength();
        if (count >= 0 && n != count) throw Bad(path, $"{where}: '{field}' must hold {count} integers but holds {n}");
        var r = new long[n];
        int i = 0;
        foreach (JsonElement e in a.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long x) || x < 0)
                throw Bad(path, $"{where}: {field}[{i}] = {e.GetRawText()} is not a non-negative 64-bit integer");
            r[i++] = x;
        }
        return r;
    }

    // Gaps between tensors are tolerated; shared bytes are not. Empty ranges hold no bytes, so never overlap.
    private static void CheckNoOverlap(List<SafeTensorsEntry> entries, string path)
    {
        SafeTensorsEntry? prev = null;
        foreach (SafeTensorsEntry e in entries.Where(e => e.ByteLength > 0).OrderBy(e => e.Begin))
        {
            if (prev != null && e.Begin < prev.End)
                throw Bad(path, $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}] overlap tensor '{prev.Name}' [{prev.Begin}, {prev.End}]");
            if (prev == null || e.End > prev.End) prev = e;
        }
    }

    /// <summary>
    /// The length prefix and JSON header for <paramref name="entries"/> (written in the given order), as the
    /// official writer lays it out: compact JSON, <c>__metadata__</c> first when present, and the JSON padded
    /// with spaces so the data buffer starts at a multiple of 8.
    /// </summary>
    internal static byte[] Encode(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var ms = new MemoryStream();
        ms.Write(new byte[8]); // length prefix, filled in below
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var w = new Utf8JsonWriter(ms, options))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, val) in metadata) w.WriteString(k, val);
                w.WriteEndObject();
            }
            foreach (SafeTensorsEntry e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DTypeCode);
                w.WriteStartArray("shape");
                foreach (long d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(e.Begin);
                w.WriteNumberValue(e.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        long json = ms.Length - 8;
        for (long pad = (8 - json % 8) % 8; pad > 0; pad--) ms.WriteByte((byte)' ');
        byte[] bytes = ms.ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(bytes.Length - 8));
        return bytes;
    }

    internal static InvalidDataException Bad(string path, string what) =>
        new($"safetensors file '{path}': {what}");
}
