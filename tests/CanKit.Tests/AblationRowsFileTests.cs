using CanKit.Ablation;
using CanKit.Catalog;
using CanKit.Training;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// <c>ablate --rows FILE</c>: a user's table of registered and own rows is read with its claims; every mistake is one line
/// naming the file and the field; a user's row trains with its own settings, stored in its run.json and ablation.json.
/// </summary>
public sealed class AblationRowsFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-rows-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Sigma = """
        { "name": "can-sigma", "title": "CAN: the noise's σmax",
          // comments and trailing commas are allowed
          "rows": [ { "name": "mae" },
                    { "name": "Can-Sigma-0.2", "method": "can", "can": { "SigmaMax": 0.2, "MaskRatio": 0.6 } }, ],
          "claims": [ { "id": "s1", "text": "σmax 0.2 beats MAE", "better": "can-sigma-0.2", "worse": "mae" } ] }
        """;

    private string Write(string json)
    {
        string path = Path.Combine(_dir, $"rows-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void ATableOfRegisteredAndOwnRowsIsRead()
    {
        string path = Write(Sigma);
        var (table, users) = AblationRowsFile.Load(path);
        Assert.Equal(("can-sigma", "CAN: the noise's σmax"), (table.Name, table.Title));
        Assert.Equal(["mae", "can-sigma-0.2"], table.Rows.Select(r => r.Name));
        Assert.Same(AblationTables.Rows.Single(r => r.Name == "mae"), table.Rows[0]);
        var user = Assert.Single(users);
        Assert.Equal(("can-sigma-0.2", "can", 0.2, 0.6), (user.Name, user.Method, user.Can!.SigmaMax, user.Can.MaskRatio));
        Assert.Equal((0.2, 0.6), (table.Rows[1].Can!.SigmaMax, table.Rows[1].Can!.MaskRatio));
        var claim = Assert.Single(table.Claims);
        Assert.Equal(("s1", "can-sigma-0.2", "mae", path), (claim.Id, claim.Better, claim.Worse, claim.Source));
    }

    [Theory]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "can", "colour": 1 } ] }""", "rows[1]: unknown field 'colour'")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "mae" } ] }""", "rows[1].name: 'mae' appears twice")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "mine" } ] }""", "rows[1].name: 'mine' is not a registered row")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "can-mask-0.75", "method": "can" } ] }""",
                "rows[1].name: 'can-mask-0.75' is a registered row")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "x", "method": "byol" } ] }""", "rows[1].method: 'byol'")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "x", "method": "mae", "can": { "SigmaMax": 0.1 } } ] }""",
                "rows[1].can: only CAN rows take settings")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "x", "method": "can", "can": { "CropMin": 1.5 } } ] }""",
                "rows[1].can.CropMin: must be in (0, 1]")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "x", "method": "can", "can": { "Sigma": 0.1 } } ] }""",
                "rows[1].can: unknown field 'Sigma'")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "pixels", "method": "can" } ] }""", "rows[1].name: 'pixels' names the raw-pixel row")]
    [InlineData("""{ "name": "t", "rows": [ { "name": "mae" } ] }""", "rows: a table needs at least two rows, got 1")]
    [InlineData("""
                { "name": "t", "rows": [ { "name": "mae" }, { "name": "can" } ],
                  "claims": [ { "id": "c", "text": "x", "better": "can", "worse": "simclr" } ] }
                """,
                "claims[0].worse: 'simclr' is not a row of this table")]
    [InlineData("""{ "rows": [] }""", "name: missing or empty")]
    [InlineData("""{ "name": "t", "rows": [ """, "not JSON")]
    public void EveryMistakeNamesTheFileAndTheField(string json, string expected)
    {
        string path = Write(json);
        var e = Assert.Throws<InvalidDataException>(() => AblationRowsFile.Load(path));
        Assert.StartsWith($"{path}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void TheCommandRefusesABadRowsFileInOneLine()
    {
        string path = Write("""{ "name": "t", "rows": [ { "name": "mae" }, { "name": "mae" } ] }""");
        var (code, _, err) = CliRunner.Run("ablate", "--rows", path, "--out", Path.Combine(_dir, "suite"));
        Assert.Equal(2, code);
        Assert.Contains($"--rows: {path}: rows[1].name: 'mae' appears twice", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(_dir, "suite")));
    }

    [Fact]
    public void AUserRowTrainsWithItsOwnSettings()
    {
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        var (table, users) = AblationRowsFile.Load(Write(Sigma));
        var settings = new AblationSettings
        {
            Dataset = "cifar10", DataRoot = root, Width = 16, Depth = 1, Heads = 2, PatchSize = 8, Batch = 8, Steps = 2, TrainSubset = 0,
            EvalSubset = 0, ProbeEpochs = 1, K = 3, Seeds = 2, DecoderWidth = 16, DecoderDepth = 1, BudgetStudy = false, UserRows = users,
        };
        var runner = new AblationRunner(settings, Path.Combine(_dir, "suite"), CPU);
        var results = runner.Run([table]);
        Assert.Equal(2, results.Count(r => r.Row == "can-sigma-0.2"));
        var spec = RunSpec.Load(runner.RunDir("can-sigma-0.2", 1));
        Assert.Equal(("can", 0.2, 0.6, 1UL), (spec.Method, spec.Can!.SigmaMax, spec.Can.MaskRatio, spec.Seed));
        var method = spec.MethodSpec().Resolve(runner.Encoder);
        Assert.Equal((0.2, 0.6), (method.Can!.SigmaMax, method.Can.MaskRatio));
        string config = File.ReadAllText(Path.Combine(runner.RunDir("can-sigma-0.2", 0), AblationRunner.ConfigFile));
        Assert.Contains("\"SigmaMax\": 0.2", config);
    }
}
