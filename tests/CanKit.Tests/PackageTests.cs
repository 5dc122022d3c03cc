using System.Reflection;
using System.Text;
using System.Xml.Linq;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The packages in the local feed: ids, this build's version, the engine's dependency, licence, README, XML docs and
/// symbols, the tool's command, and the bytes of the assemblies against the build's.
/// </summary>
public class PackageTests
{
    static string Nupkg(string id, string version, string ext = "nupkg")
    {
        var (folder, _) = PackageFeed.Ensure();
        var path = Path.Combine(folder, $"{id}.{version}.{ext}");
        Assert.True(File.Exists(path), $"{path} missing; the feed holds: {string.Join(", ", Directory.GetFiles(folder).Select(Path.GetFileName))}");
        return path;
    }

    static string Built(string project, string file) => Path.Combine(RepoPaths.Root(), "src", project, "bin", "Release", "net10.0", file);

    /// <summary>TorchSharp's version as its assembly states it (0.107.0): the package must depend on the same.</summary>
    static string TorchSharpVersion() => typeof(TorchSharp.torch).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    [PackageFeedFact]
    public void TheFeedHoldsOnlyThisBuildsVersionOfEachPackage()
    {
        var (folder, version) = PackageFeed.Ensure();
        Assert.Matches(@"^0\.1\.0-dev\.20\d{12}$", version);
        var files = Directory.GetFiles(folder).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[]
        {
            $"CanKit.{version}.nupkg", $"CanKit.{version}.snupkg", $"CanKit.Interactive.{version}.nupkg",
            $"CanKit.Interactive.{version}.snupkg", $"CanKit.Tool.{version}.nupkg",
        }.Order(), files);
    }

    [PackageFeedFact]
    public void CanKitIsTheLibraryWithTheEngineItsDocsReadmeLicenceAndSymbols()
    {
        var (_, version) = PackageFeed.Ensure();
        string nupkg = Nupkg("CanKit", version);
        var (m, entries) = PackageFeed.Open(nupkg);
        Assert.Equal("CanKit", m.Value("id"));
        Assert.Equal(version, m.Value("version"));
        var license = m.Elements().Single(e => e.Name.LocalName == "license");
        Assert.Equal(("expression", "MIT"), ((string?)license.Attribute("type"), license.Value));
        Assert.Equal("README.md", m.Value("readme"));
        Assert.StartsWith("# CanKit\n", Encoding.UTF8.GetString(PackageFeed.Read(nupkg, "README.md")).ReplaceLineEndings("\n"));
        Assert.Contains("TorchSharp", m.Value("description"));
        Assert.Equal("git", (string?)m.Elements().Single(e => e.Name.LocalName == "repository").Attribute("type"));
        var deps = m.Dependencies();
        Assert.Equal(TorchSharpVersion(), deps["TorchSharp-cpu"]);
        Assert.Equal("0.107.0", deps["TorchSharp-cpu"]);
        Assert.Equal("4.155.0", deps["SkiaSharp"]);
        Assert.Equal("4.155.0", deps["SkiaSharp.NativeAssets.Linux.NoDependencies"]);
        Assert.Equal(3, deps.Count);   // no notebook, plot or host package in the core (LayerTests checks the assembly)

        // The assembly is the build's, byte for byte; its XML docs are beside it and document the API.
        Assert.Equal(File.ReadAllBytes(Built("CanKit", "CanKit.dll")), PackageFeed.Read(nupkg, "lib/net10.0/CanKit.dll"));
        var docs = XDocument.Load(new MemoryStream(PackageFeed.Read(nupkg, "lib/net10.0/CanKit.xml")));
        Assert.Equal("CanKit", docs.Root!.Element("assembly")!.Element("name")!.Value);
        Assert.Contains(docs.Descendants("member"), e => (string?)e.Attribute("name") == "M:CanKit.Engine.EngineHost.Prepare");
        Assert.DoesNotContain(entries, e => e.EndsWith(".pdb", StringComparison.Ordinal));

        // Symbols: the portable PDB of that very build, in the .snupkg.
        string snupkg = Nupkg("CanKit", version, "snupkg");
        Assert.Equal(File.ReadAllBytes(Built("CanKit", "CanKit.pdb")), PackageFeed.Read(snupkg, "lib/net10.0/CanKit.pdb"));
    }

    [PackageFeedFact]
    public void CanKitInteractiveDependsOnThisBuildsCanKit()
    {
        var (_, version) = PackageFeed.Ensure();
        string nupkg = Nupkg("CanKit.Interactive", version);
        var (m, entries) = PackageFeed.Open(nupkg);
        Assert.Equal(("CanKit.Interactive", version), (m.Value("id"), m.Value("version")));
        Assert.Equal("MIT", m.Elements().Single(e => e.Name.LocalName == "license").Value);
        var deps = m.Dependencies();
        Assert.Equal(version, deps["CanKit"]);
        Assert.Equal("0.14.0", deps["Plotly.NET.CSharp"]);
        Assert.Equal("1.0.0-beta.26120.1", deps["Microsoft.DotNet.Interactive.Formatting"]);
        Assert.Contains("lib/net10.0/CanKit.Interactive.xml", entries);
        Assert.Equal(File.ReadAllBytes(Built("CanKit.Interactive", "CanKit.Interactive.dll")),
                     PackageFeed.Read(nupkg, "lib/net10.0/CanKit.Interactive.dll"));
        Assert.True(File.Exists(Nupkg("CanKit.Interactive", version, "snupkg")));
    }

    [PackageFeedFact]
    public void CanKitToolIsTheCankitCommandWithThisRuntimesLibTorch()
    {
        var (_, version) = PackageFeed.Ensure();
        string nupkg = Nupkg("CanKit.Tool", version);
        var (m, entries) = PackageFeed.Open(nupkg);
        Assert.Equal(("CanKit.Tool", version), (m.Value("id"), m.Value("version")));
        Assert.Equal("DotnetTool", (string?)m.Descendants().Single(e => e.Name.LocalName == "packageType").Attribute("name"));
        Assert.Empty(m.Dependencies());   // a tool carries what it runs with

        var settings = XDocument.Load(new MemoryStream(PackageFeed.Read(nupkg, "tools/net10.0/any/DotnetToolSettings.xml")));
        var command = settings.Descendants("Command").Single();
        Assert.Equal("cankit", (string?)command.Attribute("Name"));
        Assert.Equal("CanKit.Cli.dll", (string?)command.Attribute("EntryPoint"));
        Assert.Equal("dotnet", (string?)command.Attribute("Runner"));

        const string tools = "tools/net10.0/any/";
        Assert.Equal(File.ReadAllBytes(Built("CanKit.Cli", "CanKit.Cli.dll")), PackageFeed.Read(nupkg, tools + "CanKit.Cli.dll"));
        Assert.Equal(File.ReadAllBytes(Built("CanKit", "CanKit.dll")), PackageFeed.Read(nupkg, tools + "CanKit.dll"));
        foreach (var native in new[] { "libLibTorchSharp.so", "libtorch_cpu.so", "libtorch.so", "libc10.so", "libSkiaSharp.so" })
            Assert.Contains($"{tools}runtimes/{PackageFeed.Rid}/native/{native}", entries);
        // Only this runtime's native files: other runtimes' LibTorch (Windows, macOS) would triple the package.
        var runtimes = entries.Where(e => e.StartsWith(tools + "runtimes/", StringComparison.Ordinal))
            .Select(e => e[(tools.Length + "runtimes/".Length)..].Split('/')[0]).Distinct().ToList();
        Assert.Equal([PackageFeed.Rid], runtimes);
        // The Gloo shim for data-parallel training, where the build made one, beside the command as in the build output.
        string gloo = Path.Combine(RepoPaths.Root(), "src", "CanKit.Native", "bin", "libcankit_gloo.so");
        if (File.Exists(gloo)) Assert.Equal(File.ReadAllBytes(gloo), PackageFeed.Read(nupkg, tools + "libcankit_gloo.so"));
    }
}
