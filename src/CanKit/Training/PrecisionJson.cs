using System.Text.Json;
using System.Text.Json.Serialization;
using CanKit.Vision;

namespace CanKit.Training;

/// <summary>
/// run.json's <c>"Bf16"</c> field as a <see cref="Precision"/>: written as <c>true</c> (<see cref="Precision.BFloat16"/>) or
/// <c>false</c> (<see cref="Precision.Float32"/>), so run.json — and with it every checkpoint's configuration fingerprint —
/// reads as it always has; read from that boolean or from a precision's name (<c>bf16</c>, <c>fp32</c>, <c>BFloat16</c>,
/// <c>Float32</c>).
/// </summary>
public sealed class PrecisionAsBf16Flag : JsonConverter<Precision>
{
    public override Precision Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.True => Precision.BFloat16,
        JsonTokenType.False => Precision.Float32,
        JsonTokenType.String => reader.GetString()!.Trim().ToLowerInvariant() switch
        {
            "bf16" or "bfloat16" => Precision.BFloat16,
            "fp32" or "float32" => Precision.Float32,
            var other => throw new JsonException($"unknown precision '{other}' (expected true, false, bf16 or fp32)"),
        },
        _ => throw new JsonException($"expected true, false, bf16 or fp32, got {reader.TokenType}"),
    };

    public override void Write(Utf8JsonWriter writer, Precision value, JsonSerializerOptions options) =>
        writer.WriteBooleanValue(value == Precision.BFloat16);
}
