using CanKit.Catalog;
using CanKit.Cli;
using System.Reflection;
using Xunit;

namespace CanKit.Tests;

/// <summary>The command line: help everywhere, and errors that name the bad flag or file. Runs alone (it redirects the console).</summary>
[Collection("console")]
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-cli-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("pretrain")]
    [InlineData("probe")]
    [InlineData("knn")]
    [InlineData("export")]
    [InlineData("ablate")]
    [InlineData("main")]
    [InlineData("finetune")]
    [InlineData("losses")]
    [InlineData("demo")]
    [InlineData("selftest")]
    [InlineData("data")]
    [InlineData("bench")]
    [InlineData("bench", "step")]
    [InlineData("bench", "cuda")]
    [InlineData("bench", "loader")]
    public void EveryCommandHasHelp(string command, string? sub = null)
    {
        var (code, output, _) = Run(sub is null ? [command, "--help"] : [command, sub, "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", output);
        Assert.Contains("--", output);
    }

    [Theory]
    [InlineData("--method", "nope", "--method: unknown method 'nope'")]
    [InlineData("--data", "mnist-digits", "--data: unknown dataset 'mnist-digits'")]
    [InlineData("--preset", "best", "--preset: unknown preset 'best'")]
    [InlineData("--heads", "3", "--heads: 3 does not divide --width 128")]
    [InlineData("--steps", "0", "--steps: must be > 0")]
    [InlineData("--data-root", "/no/such/folder", "--data-root: folder '/no/such/folder' does not exist")]
    public void BadFlagsAreNamed(string flag, string value, string message)
    {
        var (code, _, err) = Run("pretrain", flag, value, "--out", Path.Combine(_dir, "run"));
        Assert.Equal(2, code);
        Assert.Contains(message, err);
    }

    [Theory]
    [InlineData("--device tpu", "--device tpu: expected cpu, cuda or cuda:N")]
    [InlineData("--nproc 0", "--nproc: must be ≥ 1, got 0")]
    [InlineData("--nproc 3 --batch 16", "--batch: 16 images do not split evenly over 3 processes")]
    [InlineData("--nproc 2 --minutes 1", "--minutes: not with several processes")]
    [InlineData("--nnodes 2", "--master-port: needed with several nodes")]
    [InlineData("--nnodes 2 --node-rank 2 --master-port 29500", "--node-rank: 2 is outside [0, 2)")]
    [InlineData("--nnodes 0", "--nnodes: must be ≥ 1, got 0")]
    public void UnavailableOrUnknownSetupsAreOneLineErrors(string flags, string message)
    {
        var (code, output, err) = Run(["pretrain", .. flags.Split(' '), "--out", Path.Combine(_dir, "run")]);
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.Single(err.Trim().Split('\n'));   // one line, no stack trace
        Assert.DoesNotContain("pretraining", output);      // refused before any work
        Assert.False(Directory.Exists(Path.Combine(_dir, "run")));
    }

    [Fact]
    public void DemoNamesBadFlagsAndAMissingDataset()
    {
        var (code, _, err) = Run("demo", "--steps", "0");
        Assert.Equal(2, code);
        Assert.Contains("--steps: must be > 0, got 0", err);
        (code, _, err) = Run("demo", "--data", _dir);
        Assert.Equal(1, code);
        Assert.Contains("train-images-idx3-ubyte", err);
    }

    [Fact]
    public void ALaunchersIncompleteEnvironmentOrASecondLauncherIsNamed()
    {
        string? before = Environment.GetEnvironmentVariable("WORLD_SIZE");
        Environment.SetEnvironmentVariable("WORLD_SIZE", "2");
        try
        {
            // Where libcankit_gloo was not built, the environment is read only after saying so.
            var (incomplete, incompleteCode) = Distributed.ProcessGroup.Unavailable() is { } why
                ? ($"WORLD_SIZE=2: {why}", 1)
                : ("environment variable RANK is not set", 2);
            foreach (var (args, message, expectedCode) in new[]
            {
                (new[] { "--nproc", "2" }, "--nproc/--nnodes: this process is already rank", 2),
                (new[] { "--batch", "15" }, "--batch: 15 images do not split evenly over 2 processes", 2),
                (Array.Empty<string>(), incomplete, incompleteCode),
            })
            {
                var (code, output, err) = Run(["pretrain", .. args, "--out", Path.Combine(_dir, "run")]);
                Assert.Equal(expectedCode, code);
                Assert.Contains(message, err);
                Assert.Single(err.Trim().Split('\n'));
                Assert.DoesNotContain("pretraining", output);
                Assert.False(Directory.Exists(Path.Combine(_dir, "run")));
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("WORLD_SIZE", before);
        }
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        var (code, _, err) = Run("probe", "--out", Path.Combine(_dir, "nothing"));
        Assert.Equal(1, code);
        Assert.Contains("is not a CanKit run folder", err);
        (code, _, err) = Run("pretrain", "--data", "cifar10", "--data-root", _dir, "--out", Path.Combine(_dir, "c"));
        Assert.Equal(1, code);
        Assert.Contains("data_batch_1.bin", err);
        Assert.Contains("cankit data fetch cifar10", err);
        (code, _, err) = Run("pretrain", "--data-root", _dir, "--out", Path.Combine(_dir, "f"));
        Assert.Equal(1, code);
        Assert.Contains("train-images-idx3-ubyte", err);
    }

    [Fact]
    public void AblateListsItsTablesRowsAndClaims()
    {
        var (code, output, _) = Run("ablate", "--list");
        Assert.Equal(0, code);
        foreach (var table in CanKit.Catalog.AblationTables.All)
        {
            Assert.Contains($"{table.Name}: {table.Title}", output);
            foreach (var row in table.Rows) Assert.Contains($"  {row.Name} ", output);
            foreach (var claim in table.Claims) Assert.Contains($"claim {claim.Id}: {claim.Text}", output);
        }
        var (bad, _, err) = Run("ablate", "--table", "can-components,nonsense");
        Assert.Equal(2, bad);
        Assert.Contains("--table: unknown table nonsense", err);
    }

    [Fact]
    public void AblationTablesNameTheCommitOfTheBuildThatRan()
    {
        // The tests and the command are built together, so they carry the same stamp: the commit of the checkout that was
        // built (not the one the command's folder has checked out when it finishes, which a long suite may outlive).
        string? stamp = typeof(CliTests).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        string commit = AblateCommand.Commit();
        if (stamp?.Split('+') is [_, var sha, ..])
        {
            Assert.Matches("^[0-9a-f]{40}$", sha);
            Assert.Equal($"{sha} (the build that ran)", commit);
        }
        else Assert.Equal("unknown (built outside a git checkout)", commit);
    }
}

[CollectionDefinition("console", DisableParallelization = true)]
public class ConsoleCollection;
