using System.Text.Json;
using System.Text.Json.Serialization;
using CanKit.Catalog;
using CanKit.Data;
using CanKit.Methods;
using CanKit.Vision;

namespace CanKit.Training;

/// <summary>
/// Everything that defines a pre-training run, saved as <c>run.json</c> in its folder so that probing, kNN,
/// export and resuming rebuild exactly the same model. Its JSON is also the checkpoint's configuration fingerprint.
/// <see cref="Decoder"/>, when given, replaces the method's pixel decoder (CAN, MAE, CMAE; an ablation suite's scale).
/// <see cref="Can"/> changes the CAN preset (mask ratio, σmax, loss weights, views). <see cref="Holdout"/> holds the last
/// images of the training split out as a validation split: pre-training never sees them, and evaluation scores on them
/// instead of the test split (how recipes are chosen without touching the test split). Both are left out of run.json when
/// unset, so run folders written before them keep their fingerprint.
/// </summary>
public sealed record RunSpec(string Method, string Preset, string Dataset, string? DataRoot, int Width, int Depth, int Heads, int PatchSize,
                             int BatchSize, long Steps, double LearningRate, double WeightDecay = RunSpec.DefaultWeightDecay,
                             double ClipNorm = RunSpec.DefaultClipNorm, ulong Seed = 0, int TrainSubset = 0,
                             [property: JsonPropertyName(RunSpec.PrecisionField), JsonConverter(typeof(PrecisionAsBf16Flag))]
                             Precision Precision = Precision.Float32,
                             DecoderConfig? Decoder = null,
                             [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] CanOverrides? Can = null,
                             [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int Holdout = 0)
{
    /// <summary>AdamW's decoupled weight decay of every run the command line starts (the papers' 0.05).</summary>
    public const double DefaultWeightDecay = 0.05;

    /// <summary>The global gradient-norm clip of every run the command line starts.</summary>
    public const double DefaultClipNorm = 1.0;

    /// <summary>run.json's name for <see cref="Precision"/> (<see cref="PrecisionAsBf16Flag"/>).</summary>
    public const string PrecisionField = "Bf16";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static RunSpec Load(string runDir)
    {
        string path = Path.Combine(runDir, "run.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{runDir} is not a CanKit run folder (no run.json); pretrain into it first", path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>
    /// A run description from its JSON, checked like run.json; errors are <see cref="InvalidDataException"/>s that begin
    /// with <paramref name="source"/> (the file, or the file and metadata key the JSON came from).
    /// </summary>
    public static RunSpec Parse(string json, string source)
    {
        RunSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<RunSpec>(json, Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: {FirstLine(e.Message)}", e);
        }
        if (spec is null) throw new InvalidDataException($"{source}: empty (null) run description");
        try
        {
            spec.Validate(field => $"field '{field}'");
        }
        catch (ArgumentException e)
        {
            string message = e.ParamName is { } p ? e.Message.Replace($" (Parameter '{p}')", "") : e.Message;
            throw new InvalidDataException($"{source}: {message}", e);
        }
        return spec;
    }

    private static string FirstLine(string s) => s.Split('\n')[0].TrimEnd();

    /// <summary>
    /// Checks every field (a run.json from disk and flags from the command line go through the same rules). The
    /// first problem is an <see cref="ArgumentException"/> whose ParamName is the field and whose message names it
    /// with <paramref name="name"/> (a flag such as <c>--lr</c>, or <c>field 'LearningRate'</c>).
    /// </summary>
    public RunSpec Validate(Func<string, string>? name = null)
    {
        name ??= field => field;
        ArgumentException Bad(string field, FormattableString rule) => new($"{name(field)}: {FormattableString.Invariant(rule)}", field);
        if (string.IsNullOrWhiteSpace(Method)) throw Bad(nameof(Method), $"missing");
        try { MethodCatalog.Parse(Method); }
        catch (ArgumentException e) { throw new ArgumentException($"{name(nameof(Method))}: {e.Message.Split(" (Parameter")[0]}", nameof(Method), e); }
        if (Preset is not ("paper" or "official" or "community"))
            throw Bad(nameof(Preset), $"unknown preset '{Preset}' (expected paper, official or community)");
        if (Dataset is null || !Datasets.IsKnown(Dataset))
            throw Bad(nameof(Dataset), $"unknown dataset '{Dataset}' (expected {string.Join(", ", Datasets.Names)})");
        foreach (var (field, value) in new[] { (nameof(Steps), Steps), (nameof(BatchSize), BatchSize), (nameof(Width), Width),
                                               (nameof(Depth), Depth), (nameof(Heads), Heads), (nameof(PatchSize), PatchSize) })
            if (value <= 0) throw Bad(field, $"must be > 0, got {value}");
        // Upper bounds keep a typo from asking for terabytes: far above any model this kit trains on a CPU.
        foreach (var (field, value, max) in new[] { (nameof(Width), Width, 8192), (nameof(Depth), Depth, 256), (nameof(Heads), Heads, 256),
                                                    (nameof(PatchSize), PatchSize, 1024), (nameof(BatchSize), BatchSize, 1 << 20) })
            if (value > max) throw Bad(field, $"must be ≤ {max}, got {value}");
        // ~12·W²·D weights in the encoder's blocks (attention 4·W², MLP 8·W²): beyond 2·10⁹ the model alone needs 8 GB
        // and AdamW twice that again.
        if (12.0 * Width * Width * Depth > 2e9)
            throw Bad(nameof(Width),
                $"{Width} with {name(nameof(Depth))} {Depth} makes an encoder of ~{12.0 * Width * Width * Depth:G2} weights, more than 2e9");
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw Bad(nameof(LearningRate), $"must be a finite number > 0, got {LearningRate}");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw Bad(nameof(WeightDecay), $"must be a finite number ≥ 0, got {WeightDecay}");
        if (!(ClipNorm >= 0) || !double.IsFinite(ClipNorm)) throw Bad(nameof(ClipNorm), $"must be a finite number ≥ 0, got {ClipNorm}");
        if (TrainSubset < 0) throw Bad(nameof(TrainSubset), $"must be ≥ 0 (0: all images), got {TrainSubset}");
        if (Holdout < 0) throw Bad(nameof(Holdout), $"must be ≥ 0 (0: evaluate on the test split), got {Holdout}");
        if (Can is not null)
        {
            if (MethodCatalog.Parse(Method) is not { Kind: MethodKind.Can, Can: null })
                throw Bad(nameof(Can), $"changes CAN's preset; method '{Method}' is not plain CAN");
            try { Can.Apply(CanConfig.Paper); }
            catch (ArgumentOutOfRangeException e)
            {
                throw new ArgumentException($"{name(nameof(Can) + "." + e.ParamName)}: {e.Message.Split(" (Parameter")[0]}", nameof(Can), e);
            }
        }
        if (Width % Heads != 0) throw Bad(nameof(Heads), $"{Heads} does not divide {name(nameof(Width))} {Width}");
        try { Decoder?.Validate(); }
        catch (ArgumentException e) { throw new ArgumentException($"{name(nameof(Decoder))}: {e.Message.Split(" (Parameter")[0]}", nameof(Decoder), e); }
        return this;
    }

    /// <summary>Checks what depends on the device: <see cref="Precision.BFloat16"/> only where the device computes bf16 natively.</summary>
    public void ValidateFor(Device device, Func<string, string>? name = null)
    {
        name ??= field => field;
        if (Precision == Precision.BFloat16 && PrecisionPolicy.Bf16Unavailable(device) is { } why)
            throw new ArgumentException($"{name(PrecisionField)}: {why}", PrecisionField);
    }

    /// <summary>
    /// The precision a run in <paramref name="runDir"/> gets from the name <paramref name="asked"/> (<c>auto</c>, <c>fp32</c>
    /// or <c>bf16</c>, <see cref="PrecisionPolicy.Parse"/>) on <paramref name="device"/>: <c>auto</c> keeps the precision of
    /// a run the folder already holds, so resuming never changes the arithmetic half-way.
    /// </summary>
    public static Precision PrecisionFor(string asked, Device device, string runDir) =>
        asked.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) && File.Exists(Path.Combine(runDir, "run.json"))
            ? Load(runDir).Precision
            : PrecisionPolicy.Parse(asked, device);

    /// <summary>Checks what depends on the number of data-parallel processes: each takes an equal share of the batch.</summary>
    public void ValidateFor(int worldSize, Func<string, string>? name = null)
    {
        name ??= field => field;
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "must be ≥ 1");
        if (BatchSize % worldSize != 0)
            throw new ArgumentException($"{name(nameof(BatchSize))}: {BatchSize} images do not split evenly over " +
                                        $"{worldSize} processes (each takes batch / processes)", nameof(BatchSize));
    }

    /// <summary>Checks what depends on the data: the patch size must divide the image side, a batch must fit in the set.</summary>
    public void ValidateFor(ImageSet train, Func<string, string>? name = null)
    {
        name ??= field => field;
        if (train.Height % PatchSize != 0 || train.Width % PatchSize != 0)
            throw new ArgumentException($"{name(nameof(PatchSize))}: {PatchSize} does not divide the " +
                                        $"{train.Height}×{train.Width} images of {train.Name}", nameof(PatchSize));
        if (BatchSize > train.Count)
            throw new ArgumentException($"{name(nameof(BatchSize))}: {BatchSize} is more than the " +
                                        $"{train.Count} training images of {train.Name}", nameof(BatchSize));
    }

    public void Save(string runDir)
    {
        Directory.CreateDirectory(runDir);
        IO.WriteFault.WriteAllText(Path.Combine(runDir, "run.json"), ToJson());
    }

    /// <summary>The encoder shape for images of <paramref name="data"/>, with the run's <see cref="Precision"/> policy.</summary>
    public VitConfig Encoder(ImageSet data) => Encoder(data.Height, data.Channels);

    /// <summary>The encoder shape for <paramref name="imageSize"/>-px square images of <paramref name="channels"/> channels.</summary>
    public VitConfig Encoder(int imageSize, int channels) =>
        new VitConfig
        {
            ImageSize = imageSize, PatchSize = PatchSize, InChannels = channels, Width = Width, Depth = Depth, Heads = Heads,
            Precision = Precision,
        }.Validate();

    /// <summary>The method with its preset (paper / official / community for CAN; ablation names are their own presets).</summary>
    public MethodSpec MethodSpec() => WithDecoder(PresetMethodSpec());

    /// <summary><paramref name="spec"/> with this run's <see cref="Decoder"/> override, if it has one.</summary>
    public MethodSpec WithDecoder(MethodSpec spec)
    {
        return Decoder is not { } d ? spec : spec.Kind switch
        {
            MethodKind.Can => spec with { Can = spec.Can! with { Decoder = d } },
            MethodKind.Mae => spec with { Mae = (spec.Mae ?? MaeConfig.Paper) with { Decoder = d } },
            MethodKind.Cmae => spec with { Cmae = (spec.Cmae ?? CmaeConfig.OfficialCode) with { PixelDecoder = d } },
            _ => spec,
        };
    }

    private MethodSpec PresetMethodSpec()
    {
        var spec = MethodCatalog.Parse(Method);
        if (spec.Kind != MethodKind.Can || spec.Can is not null) return spec;
        var can = Preset.ToLowerInvariant() switch
        {
            "paper" => CanConfig.Paper,
            "official" => CanConfig.OfficialCode,
            "community" => CanConfig.Community,
            _ => throw new ArgumentException($"unknown CAN preset '{Preset}' (expected paper, official or community)"),
        };
        can = can with { Decoder = new DecoderConfig { Width = 128, Depth = 2, Heads = 4 } };
        return spec with { Can = Can?.Apply(can) ?? can };
    }

    public TrainConfig TrainConfig(Device device, int checkpointEvery, int logEvery) => new()
    {
        BatchSize = BatchSize, Steps = Steps, LearningRate = LearningRate, WeightDecay = WeightDecay, ClipNorm = ClipNorm,
        Seed = Seed, Device = device, CheckpointEvery = checkpointEvery, LogEvery = logEvery, MinLearningRate = Math.Min(1e-6, LearningRate),
    };
}
