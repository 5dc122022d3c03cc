namespace CanKit.Training;

/// <summary>
/// The metadata that marks a safetensors file as one of CanKit's exports (<see cref="RunExport"/> writes them,
/// <see cref="PretrainedModel"/> reads model files): only a file carrying <see cref="Marker"/> is replaced by a new export.
/// </summary>
public static class ExportFormat
{
    /// <summary>Metadata key that marks a file as an export; its value is the kind, <see cref="EncoderKind"/> or <see cref="ModelKind"/>.</summary>
    public const string Marker = "cankit_export";

    /// <summary>Metadata key of an export's run.json.</summary>
    public const string RunMetadata = "cankit_run";

    /// <summary>An encoder with timm's parameter names (<see cref="RunExport.ExportEncoder"/>).</summary>
    public const string EncoderKind = "encoder";

    /// <summary>The whole method in float16 (<see cref="RunExport.ExportModel"/>, <see cref="PretrainedModel"/>).</summary>
    public const string ModelKind = "model";
}
