using System.Xml.Linq;

namespace CanKit.Engine;

/// <summary>
/// Where TorchSharp's native files are in the NuGet package cache, for hosts that load TorchSharp straight from it (a
/// notebook's <c>#r "nuget: CanKit"</c>, a script) instead of from a build output that holds them side by side.
/// </summary>
/// <remarks>
/// In the cache, <c>libLibTorchSharp.so</c> is in the <c>torchsharp</c> package and LibTorch's own files
/// (<c>libtorch.so</c>, <c>libtorch_cpu.so</c>, <c>libc10.so</c>, …) in a separate one, <c>libtorch-cpu-linux-x64</c> for
/// TorchSharp-cpu 0.107.0. Which LibTorch package and version belongs to a TorchSharp version is written in the bundle
/// packages' nuspecs (<c>torchsharp-cpu</c> → <c>libtorch-cpu</c> 2.10.0 → <c>libtorch-cpu-linux-x64</c> 2.10.0), so this
/// follows those dependencies rather than guessing from folder names: another TorchSharp's LibTorch in the same cache is
/// never picked.
/// </remarks>
public static class NuGetNativeFolders
{
    /// <summary>The bundle packages that pair TorchSharp with a LibTorch build (lower case, as folders in the cache), in
    /// the order they are tried where no GPU driver is installed; with one, the CUDA bundles come first.</summary>
    public static readonly IReadOnlyList<string> Bundles = ["torchsharp-cpu", "torchsharp-cuda-linux", "torchsharp-cuda-windows"];

    /// <summary>The cache root: <c>$NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>.</summary>
    public static string PackagesRoot()
    {
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        return string.IsNullOrEmpty(packages)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages")
            : packages;
    }

    /// <summary>
    /// The folders to look in for TorchSharp <paramref name="torchSharpVersion"/>'s native files under
    /// <paramref name="packages"/>, for runtime <paramref name="rid"/>: the <c>torchsharp</c> package's
    /// <c>runtimes/&lt;rid&gt;/native</c>, then that of each <c>libtorch-*-&lt;rid&gt;</c> package the bundles of that version
    /// depend on. Only folders that exist are returned; a bundle that is not in the cache adds nothing. The cache cannot
    /// say which bundle a host restored when both are there: with <paramref name="preferCuda"/> (a machine with NVIDIA's
    /// driver) the CUDA bundles' LibTorch comes first, which runs on the CPU as well.
    /// </summary>
    public static IReadOnlyList<string> For(string packages, string torchSharpVersion, string rid, bool preferCuda = false)
    {
        var found = new List<string>();
        void Add(string dir)
        {
            if (Directory.Exists(dir) && !found.Contains(dir)) found.Add(dir);
        }
        Add(Native(packages, "torchsharp", torchSharpVersion, rid));
        foreach (var bundle in Bundles.OrderBy(b => preferCuda && b.Contains("cuda", StringComparison.Ordinal) ? 0 : 1))
            Walk(packages, bundle, torchSharpVersion, rid, depth: 0, Add);
        return found;
    }

    static string Native(string packages, string id, string version, string rid) =>
        Path.Combine(packages, id, version, "runtimes", rid, "native");

    // A LibTorch package is either a meta package listing one per runtime (libtorch-cpu) or the runtime's own
    // (libtorch-cpu-linux-x64); the CUDA ones add a level of parts. Three levels cover every layout TorchSharp ships.
    static void Walk(string packages, string id, string version, string rid, int depth, Action<string> add)
    {
        if (depth > 3) return;
        if (id.StartsWith("libtorch-", StringComparison.Ordinal)) add(Native(packages, id, version, rid));
        var nuspec = Path.Combine(packages, id, version, id + ".nuspec");
        if (!File.Exists(nuspec)) return;
        foreach (var (depId, depVersion) in Dependencies(nuspec))
        {
            if (!depId.StartsWith("libtorch-", StringComparison.Ordinal)) continue;
            if (ForRuntime(depId, rid)) Walk(packages, depId, depVersion, rid, depth + 1, add);
        }
    }

    /// <summary>Whether a LibTorch package is for <paramref name="rid"/> or for none in particular: libtorch-cpu and
    /// libtorch-cpu-linux-x64 are followed on linux-x64, libtorch-cpu-win-x64 is not.</summary>
    static bool ForRuntime(string id, string rid)
    {
        var padded = id + "-";
        bool namesRuntime = new[] { "-linux-", "-win-", "-osx-" }.Any(os => padded.Contains(os, StringComparison.Ordinal));
        return !namesRuntime || padded.Contains($"-{rid}-", StringComparison.Ordinal);
    }

    /// <summary>The (id, version) of each dependency in a nuspec, lower case as the cache's folders, brackets of an
    /// exact range (<c>[2.10.0]</c>) removed.</summary>
    public static IEnumerable<(string Id, string Version)> Dependencies(string nuspec)
    {
        XDocument doc;
        try { doc = XDocument.Load(nuspec); }
        catch (System.Xml.XmlException) { yield break; }
        foreach (var e in doc.Descendants().Where(e => e.Name.LocalName == "dependency"))
        {
            var id = (string?)e.Attribute("id");
            var version = ((string?)e.Attribute("version"))?.Trim('[', ']', '(', ')', ' ').Split(',')[0];
            if (!string.IsNullOrEmpty(id) && !string.IsNullOrEmpty(version))
                yield return (id.ToLowerInvariant(), version.ToLowerInvariant());
        }
    }
}
