using System.Diagnostics;
using System.IO.Compression;
using System.Xml.Linq;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The local NuGet feed (artifacts/feed/) as the build leaves it: tools/pack-feed.sh is run once per test process (it
/// packs nothing when the feed already holds this build's packages), and the version is worked out here from the
/// assemblies' times, independently of the script, so that a wrong version in the script fails the tests.
/// </summary>
internal static class PackageFeed
{
    public const string Rid = "linux-x64";
    static readonly string[] Assemblies = ["CanKit", "CanKit.Interactive", "CanKit.Notebooks", "CanKit.Cli"];
    static readonly Lazy<(string Folder, string Version)> feed = new(Pack);
    static readonly object gate = new();

    /// <summary>The feed folder and this build's package version, packing first where needed.</summary>
    public static (string Folder, string Version) Ensure() { lock (gate) return feed.Value; }

    /// <summary>0.1.0-dev.&lt;UTC time of the newest of the four Release assemblies, yyyyMMddHHmmss&gt;.</summary>
    public static string ExpectedVersion()
    {
        string root = RepoPaths.Root();
        var newest = Assemblies.Select(a => Path.Combine(root, "src", a, "bin", "Release", "net10.0", a + ".dll"))
            .Max(f => File.Exists(f) ? File.GetLastWriteTimeUtc(f) : throw new FileNotFoundException($"{f}: build CanKit.sln in Release first"));
        return "0.1.0-dev." + newest.ToString("yyyyMMddHHmmss");
    }

    static (string, string) Pack()
    {
        string root = RepoPaths.Root();
        var (code, output) = Run("bash", [Path.Combine(root, "tools", "pack-feed.sh")], root, TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"tools/pack-feed.sh failed:\n{output}");
        return (Path.Combine(root, "artifacts", "feed"), ExpectedVersion());
    }

    /// <summary>Runs a program without the test host's MSBuild and test-platform variables (a `dotnet` it starts must
    /// not run as if inside this build); returns its exit code and its standard output and error.</summary>
    public static (int Code, string Output) Run(string file, IEnumerable<string> args, string cwd, TimeSpan limit,
                                                IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (string key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase) ||
                     k.StartsWith("TESTINGPLATFORM", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(key);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', psi.ArgumentList)} ran past {limit.TotalMinutes} minutes:\n{stdout.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The nuspec inside a .nupkg, and the names of its entries.</summary>
    public static (XElement Metadata, IReadOnlyList<string> Entries) Open(string nupkg)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.Contains('/'));
        using var s = nuspec.Open();
        var metadata = XDocument.Load(s).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        return (metadata, zip.Entries.Select(e => e.FullName).ToList());
    }

    /// <summary>One entry of a .nupkg as bytes.</summary>
    public static byte[] Read(string nupkg, string entry)
    {
        using var zip = ZipFile.OpenRead(nupkg);
        using var s = (zip.GetEntry(entry) ?? throw new FileNotFoundException($"{entry} not in {nupkg}")).Open();
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    public static string? Value(this XElement metadata, string name) =>
        metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;

    /// <summary>The (id, version) of each dependency in the nuspec's metadata.</summary>
    public static Dictionary<string, string> Dependencies(this XElement metadata) =>
        metadata.Descendants().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => (string)e.Attribute("id")!, e => (string)e.Attribute("version")!);
}

/// <summary>A test that needs the feed: skipped, saying why, where tools/pack-feed.sh cannot run (no bash on PATH) or the
/// packages' runtime is not this machine's (the tool package carries this runtime's LibTorch).</summary>
public sealed class PackageFeedFactAttribute : FactAttribute
{
    public PackageFeedFactAttribute()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        if (!path.Any(d => File.Exists(Path.Combine(d, "bash")) || File.Exists(Path.Combine(d, "bash.exe"))))
            Skip = "no bash on PATH: tools/pack-feed.sh packs the feed (run dotnet pack on src/CanKit, src/CanKit.Interactive and src/CanKit.Cli by hand)";
        else if (System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier != PackageFeed.Rid)
            Skip = $"the package checks name {PackageFeed.Rid}'s native files; this runtime is "
                   + System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
    }
}
