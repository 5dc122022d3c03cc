using System.Text.Json;
using System.Text.Json.Serialization;
using CanKit.Data;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Training;

/// <summary>
/// Everything that defines a pre-training run, saved as <c>run.json</c> in its folder so that probing, kNN,
/// export and resuming rebuild exactly the same model. Its JSON is also the checkpoint's configuration fingerprint.
/// </summary>
public sealed record RunSpec(string Method, string Preset, string Dataset, string? DataRoot, int Width, int Depth, int Heads, int PatchSize,
                             int BatchSize, long Steps, double LearningRate, double WeightDecay, double ClipNorm, ulong Seed, int TrainSubset,
                             bool Bf16 = false)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static RunSpec Load(string runDir)
    {
        string path = Path.Combine(runDir, "run.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{runDir} is not a CanKit run folder (no run.json); pretrain into it first", path);
        try
        {
            return JsonSerializer.Deserialize<RunSpec>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public void Save(string runDir)
    {
        Directory.CreateDirectory(runDir);
        string path = Path.Combine(runDir, "run.json"), tmp = path + ".tmp";
        File.WriteAllText(tmp, ToJson());
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The encoder shape for images of <paramref name="data"/>.</summary>
    public VitConfig Encoder(ImageSet data) =>
        new VitConfig { ImageSize = data.Height, PatchSize = PatchSize, InChannels = data.Channels, Width = Width, Depth = Depth, Heads = Heads }.Validate();

    /// <summary>The method with its preset (paper / official / community for CAN; ablation names are their own presets).</summary>
    public MethodSpec MethodSpec()
    {
        var spec = Methods.MethodSpec.Parse(Method);
        if (spec.Kind != MethodKind.Can || spec.Can is not null) return spec;
        var can = Preset.ToLowerInvariant() switch
        {
            "paper" => CanConfig.Paper,
            "official" => CanConfig.OfficialCode,
            "community" => CanConfig.Community,
            _ => throw new ArgumentException($"unknown CAN preset '{Preset}' (expected paper, official or community)"),
        };
        return spec with { Can = can with { Decoder = new DecoderConfig { Width = 128, Depth = 2, Heads = 4 } } };
    }

    public TrainConfig TrainConfig(Device device, int checkpointEvery, int logEvery) => new()
    {
        BatchSize = BatchSize, Steps = Steps, LearningRate = LearningRate, WeightDecay = WeightDecay, ClipNorm = ClipNorm,
        Seed = Seed, Device = device, CheckpointEvery = checkpointEvery, LogEvery = logEvery, MinLearningRate = Math.Min(1e-6, LearningRate),
        MixedPrecision = Bf16 ? true : null,
    };
}

/// <summary>Loads the datasets the command line names: <c>fashion-mnist</c>, <c>cifar10</c>, <c>cifar100</c>, <c>folder</c>.</summary>
public static class Datasets
{
    public static readonly string[] Names = ["fashion-mnist", "cifar10", "cifar100"];

    public static ImageSet Load(string name, string? root, bool train) => name.ToLowerInvariant() switch
    {
        "fashion-mnist" => FashionMnist.Load(train, root ?? FashionMnist.DefaultRoot).ToImageSet(),
        "cifar10" => CifarBinary.LoadCifar10(root ?? throw Missing(name), train),
        "cifar100" => CifarBinary.LoadCifar100(root ?? throw Missing(name), train),
        _ => throw new ArgumentException($"unknown dataset '{name}' (expected {string.Join(", ", Names)})", nameof(name)),
    };

    private static ArgumentException Missing(string name) =>
        new($"dataset '{name}' needs --data-root (fetch it with data-scripts/fetch-cifar.sh)");
}
