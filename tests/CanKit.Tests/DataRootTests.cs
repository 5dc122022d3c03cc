using CanKit.Cli;
using CanKit.Data;
using CanKit.Training;
using Xunit;
using Xunit.Abstractions;

namespace CanKit.Tests;

/// <summary>
/// Where data sets are looked for (<see cref="DataRoot"/>): the order of the places, the one line said when none holds the
/// data set, and what a run records. Environment variables are set only around the calls that read them and restored
/// at once; the folders they point at hold links to the real Fashion-MNIST files (empty stand-ins where there are none),
/// so a test elsewhere that loads Fashion-MNIST meanwhile reads the same images.
/// </summary>
[Collection("console")]
public sealed class DataRootTests(ITestOutputHelper output) : IDisposable
{
    private const string Env = DataRoot.EnvironmentVariable, Xdg = "XDG_DATA_HOME";
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-dataroot-").FullName;
    private readonly string? _real = Found(() => FashionMnist.DefaultRoot);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string? Found(Func<string> find)
    {
        try { return find(); }
        catch (DirectoryNotFoundException) { return null; }
    }

    // Runs body with the variables set (null: unset) and restores them right after.
    internal static T With<T>(Func<T> body, params (string Name, string? Value)[] vars)
    {
        var before = vars.Select(v => (v.Name, Environment.GetEnvironmentVariable(v.Name))).ToArray();
        try
        {
            foreach (var (name, value) in vars) Environment.SetEnvironmentVariable(name, value);
            return body();
        }
        finally
        {
            foreach (var (name, value) in before) Environment.SetEnvironmentVariable(name, value);
        }
    }

    // root/fashion-mnist holding the first `count` of the four files, as links to the real ones (or empty stand-ins).
    private string Stock(string root, int count = 4)
    {
        string dir = Path.Combine(root, FashionMnist.FolderName);
        Directory.CreateDirectory(dir);
        foreach (string stem in FashionMnist.Files.Take(count))
        {
            string? real = _real is null ? null
                : new[] { stem + ".gz", stem }.Select(n => Path.Combine(_real, n)).FirstOrDefault(File.Exists);
            string path = Path.Combine(dir, real is null ? stem + ".gz" : Path.GetFileName(real));
            if (real is null) File.WriteAllBytes(path, []);
            else
                try { File.CreateSymbolicLink(path, real); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { File.Copy(real, path); }
        }
        return dir;
    }

    [Fact]
    public void TheGivenRootThenCankitDataThenThePerUserFolderThenDebians()
    {
        if (!OperatingSystem.IsLinux())
        {
            output.WriteLine("skipped: XDG_DATA_HOME moves the per-user data folder on Linux only");
            return;
        }
        string env = Path.Combine(_dir, "env"), xdg = Path.Combine(_dir, "xdg"), given = Path.Combine(_dir, "given");
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName, user = Path.Combine(xdg, "cankit");
        Assert.Equal(user, With(() => DataRoot.UserFolder, (Xdg, xdg)));   // read at each call, as .NET reads XDG_DATA_HOME
        string envFolder = Stock(env), userFolder = Stock(user), givenFolder = Stock(given);
        string Resolve(string? root, string? cankitData) => With(() => FashionMnist.Resolve(root), (Env, cankitData), (Xdg, xdg));

        // The given root wins over everything, as the folder of the files or as a data root with fashion-mnist/ in it.
        Assert.Equal(givenFolder, Resolve(given, env));
        Assert.Equal(givenFolder, Resolve(givenFolder, env));
        // Then $CANKIT_DATA/fashion-mnist; then the per-user folder, when CANKIT_DATA is unset or has no Fashion-MNIST.
        Assert.Equal(envFolder, Resolve(null, env));
        Assert.Equal(userFolder, Resolve(null, null));
        Assert.Equal(userFolder, Resolve(null, empty));
        // Three of the four files (a fetch that stopped) do not count: the search goes on to Debian's folder.
        Directory.Delete(userFolder, recursive: true);
        Stock(user, count: 3);
        if (FashionMnist.HoldsAll(FashionMnist.DebianRoot)) Assert.Equal(FashionMnist.DebianRoot, Resolve(null, empty));
        else Assert.Throws<DirectoryNotFoundException>(() => Resolve(null, empty));
        // A given root is used alone: a wrong one is an error, not a quiet fall-back to another copy.
        Assert.Throws<DirectoryNotFoundException>(() => Resolve(empty, env));
    }

    [Fact]
    public void AMissingDataSetIsOneLineNamingEachPlaceAndTheFetchCommand()
    {
        string env = Directory.CreateDirectory(Path.Combine(_dir, "env")).FullName, xdg = Path.Combine(_dir, "xdg");
        var system = new DataRoot.Place(Path.Combine(_dir, "system"), "a system folder");
        string Find() =>
            DataRoot.Find(FashionMnist.FolderName, "Fashion-MNIST", null, FashionMnist.HoldsAll, "the four IDX files", system: system);
        string Message(string? cankitData) =>
            With(() => Assert.Throws<DirectoryNotFoundException>(Find).Message, (Env, cankitData), (Xdg, xdg));

        string user = With(() => DataRoot.UserFolder, (Xdg, xdg))!;
        string withEnv = Message(env), without = Message(null);
        output.WriteLine(withEnv);
        output.WriteLine(without);
        foreach (string m in new[] { withEnv, without })
        {
            Assert.DoesNotContain('\n', m);
            Assert.StartsWith("Fashion-MNIST not found: looked for the four IDX files in ", m);
            Assert.Contains($"{Path.Combine(user, "fashion-mnist")} (the per-user data folder)", m);
            Assert.Contains($"{system.Folder} (a system folder)", m);
            Assert.Contains("fetch it with `cankit data fetch fashion-mnist`", m);
        }
        Assert.Contains($"{Path.Combine(env, "fashion-mnist")} ($CANKIT_DATA)", withEnv);
        Assert.EndsWith($"(it writes into {Path.Combine(env, "fashion-mnist")})", withEnv);
        Assert.Contains("CANKIT_DATA not set", without);
        Assert.EndsWith($"(it writes into {Path.Combine(user, "fashion-mnist")})", without);

        // A given root: both places it stands for, and the fetch into it.
        string given = Directory.CreateDirectory(Path.Combine(_dir, "given")).FullName;
        string m2 = Assert.Throws<DirectoryNotFoundException>(() => FashionMnist.Load(train: true, given)).Message;
        Assert.Contains($"in {given} (the given data root), {Path.Combine(given, "fashion-mnist")} (the given data root's sub-folder)", m2);
        Assert.Contains($"`cankit data fetch fashion-mnist --data-root {given}`", m2);
        // The command line says it in one line, exit code 1.
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("demo", "--data-root", given), 1, m2);
    }

    [Fact]
    public void ADataRootWithAFashionMnistFolderServesEveryLoaderAndTheRunRecordsItAsGiven()
    {
        string root = Path.Combine(_dir, "data");
        Directory.CreateDirectory(root);
        Directory.Move(SyntheticData.FashionMnist(_dir, train: 32, test: 8), Path.Combine(root, "fashion-mnist"));
        Assert.Equal(32, FashionMnist.Load(train: true, root).Count);
        Assert.Equal(8, Datasets.Load("fashion-mnist", root, train: false).Count);
        string run = Path.Combine(_dir, "run");
        var r = CliRunner.Run("pretrain", "--data-root", root, "--width", "32", "--depth", "1", "--heads", "2", "--patch", "7",
                              "--batch", "8", "--steps", "1", "--out", run);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(root, RunSpec.Load(run).DataRoot);
        // Without a root, Datasets.Load reads what the search finds.
        if (_real is not null)
            Assert.Equal(FashionMnist.Load(train: false, _real).Labels.Select(l => (int)l),
                         Datasets.Load("fashion-mnist", null, train: false).Labels);
    }

    [Fact]
    public void MainRecordsTheDataRootOnlyWhenOneIsGiven()
    {
        // No --data-root: DataRoot stays null, so run.json (and the checkpoint's fingerprint) is what it always was.
        var none = MainJobCommand.Spec(quick: false, steps: null, Vision.Precision.Float32, holdout: 0);
        Assert.Null(none.DataRoot);
        Assert.Equal(MainJobCommand.Recipe.ToJson(), none.ToJson());
        Assert.Contains("\"DataRoot\": null", none.ToJson());
        Assert.Equal("some/data", MainJobCommand.Spec(quick: true, null, Vision.Precision.Float32, 0, dataRoot: "some/data").DataRoot);

        // A folder that is not there is a bad flag; one without the data is a missing data set; neither writes a run.
        string run = Path.Combine(_dir, "main");
        string missing = Path.Combine(_dir, "nowhere");
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("main", "--data-root", missing, "--out", run), 2,
                                             $"--data-root: is not a folder, got '{missing}'");
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName;
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("main", "--quick", "--data-root", empty, "--out", run), 1,
                                             $"`cankit data fetch fashion-mnist --data-root {empty}`");
        Assert.False(File.Exists(Path.Combine(run, "run", "run.json")));
    }

    [Fact]
    public void MainOnCifar10HasItsOwnRecipeFolderAndModelFileAndNamesWhereItLooked()
    {
        var spec = MainJobCommand.Spec(quick: false, steps: null, Vision.Precision.Float32, holdout: 0, dataset: "cifar10");
        Assert.Equal(MainJobCommand.CifarRecipe.ToJson(), spec.ToJson());
        Assert.Equal("cifar10", spec.Dataset);
        Assert.Equal(MainJobCommand.QuickSteps, MainJobCommand.Spec(quick: true, null, Vision.Precision.Float32, 0, dataset: "cifar10").Steps);
        Assert.Equal("runs/main-cifar10", MainJobCommand.DefaultOut("cifar10", quick: false));
        Assert.Equal("runs/main-cifar10-quick", MainJobCommand.DefaultOut("cifar10", quick: true));
        Assert.Equal("runs/main", MainJobCommand.DefaultOut("fashion-mnist", quick: false));
        Assert.Equal("can-cifar10.safetensors", MainJobCommand.ModelFile("cifar10"));

        string run = Path.Combine(_dir, "main-cifar");
        string empty = Directory.CreateDirectory(Path.Combine(_dir, "empty-cifar")).FullName;
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("main", "--data", "cifar10", "--quick", "--data-root", empty, "--out", run), 1,
                                             $"`cankit data fetch cifar10 --data-root {empty}`");
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("main", "--data", "imagenet", "--out", run), 2, "imagenet");
        Assert.False(File.Exists(Path.Combine(run, "run", "run.json")));
    }
}
