using CanKit.Training;
using Xunit;
using static CanKit.Tests.BadInputFlagTests;

namespace CanKit.Tests;

/// <summary>
/// `pretrain --config FILE` (a run.json to start from), `--set Field=Value`, `--weight-decay` and `--clip-norm`: a run is
/// reproducible from its run.json alone; precedence is config &lt; flags &lt; --set; mistakes are one-line errors.
/// </summary>
[Collection("console")]
public sealed class CliRunConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cfg-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ARunIsReproducedBitForBitFromItsRunJson()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8), first = Path.Combine(_dir, "first"), second = Path.Combine(_dir, "second");
        var r = CliRunner.Run([.. SyntheticData.TinyPretrainArgs(root, first, steps: 2), "--seed", "3", "--mask-ratio", "0.6",
                               "--weight-decay", "0.1", "--clip-norm", "0.5"]);
        Assert.True(r.Code == 0, r.Err);
        var spec = RunSpec.Load(first);
        Assert.Equal((3UL, 0.6, 0.1, 0.5), (spec.Seed, spec.Can!.MaskRatio!.Value, spec.WeightDecay, spec.ClipNorm));
        r = CliRunner.Run("pretrain", "--config", Path.Combine(first, "run.json"), "--out", second);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(File.ReadAllText(Path.Combine(first, "run.json")), File.ReadAllText(Path.Combine(second, "run.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(first, Trainer.CheckpointFile)),
                     File.ReadAllBytes(Path.Combine(second, Trainer.CheckpointFile)));
    }

    [Fact]
    public void FlagsOverrideTheConfigAndSetOverridesFlags()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8), config = Path.Combine(_dir, "config.json"), run = Path.Combine(_dir, "run");
        var from = SyntheticData.TinySpec(root, steps: 5) with { Seed = 1, WeightDecay = 0.2, ClipNorm = 0, Holdout = 8 };
        File.WriteAllText(config, from.ToJson());
        var r = CliRunner.Run("pretrain", "--config", config, "--steps", "1", "--seed", "7", "--clip-norm", "2", "--holdout", "0",
                              "--set", "Seed=9",
                              "--set", "Can.MaskRatio=0.6", "--set", "can.sigmamax=0.5", "--out", run);
        Assert.True(r.Code == 0, r.Err);
        var spec = RunSpec.Load(run);
        Assert.Equal(1, spec.Steps);            // flag over config
        Assert.Equal((2.0, 0), (spec.ClipNorm, spec.Holdout));
        Assert.Equal(9UL, spec.Seed);           // --set over flag
        Assert.Equal(0.2, spec.WeightDecay);    // config over a flag's default
        Assert.Equal((32, 1, 2, 8, 16), (spec.Width, spec.Depth, spec.Heads, spec.PatchSize, spec.BatchSize));
        Assert.Equal((0.6, 0.5), (spec.Can!.MaskRatio!.Value, spec.Can.SigmaMax!.Value));
        Assert.Contains("\"MaskRatio\": 0.6", File.ReadAllText(Path.Combine(run, "run.json")));
    }

    [Theory]
    [InlineData("missing", "", "--config: ")]
    [InlineData("badjson", "", "--config: ")]
    [InlineData("badfield", "", "--config: ")]
    [InlineData("", "Nope=1", "--set: unknown field 'Nope' (fields: Method, Preset, ")]
    [InlineData("", "Seed", "--set: expected Field=Value (e.g. Can.MaskRatio=0.6), got 'Seed'")]
    [InlineData("", "Can.MaskRatio=2", "--set Can.MaskRatio=2: field 'Can.MaskRatio': must be in [0, 1)")]
    [InlineData("", "WeightDecay=-1", "--set WeightDecay=-1: field 'WeightDecay': must be a finite number ≥ 0, got -1")]
    [InlineData("", "Width=abc", "--set Width=abc: ")]
    [InlineData("good", "Can.Nope=1", "--set: unknown field 'Can.Nope' (fields: ")]
    public void BadConfigsAndSetsAreOneLineErrors(string config, string set, string message)
    {
        string file = Path.Combine(_dir, "config.json"), run = Path.Combine(_dir, "run");
        var spec = SyntheticData.TinySpec(_dir, steps: 1);
        if (config == "badjson") File.WriteAllText(file, "{ \"Method\": ");
        if (config == "good") File.WriteAllText(file, spec.ToJson());
        if (config == "badfield") File.WriteAllText(file, spec.ToJson().Replace("\"Width\": 32", "\"Width\": -1"));
        if (config == "badfield") message += $"{file}: field 'Width': must be > 0, got -1";
        else if (config is "missing" or "badjson") message += file;
        string[] args = ["pretrain", "--data-root", _dir, "--out", run];
        if (config != "") args = [.. args, "--config", file];
        if (set != "") args = [.. args, "--set", set];
        AssertOneLineError(CliRunner.Run(args), 2, message);
        Assert.False(Directory.Exists(run));
    }
}
