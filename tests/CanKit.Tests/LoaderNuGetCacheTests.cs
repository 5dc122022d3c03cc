using System.Reflection;
using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// NuGetNativeFolders: from TorchSharp's version to the folders of its native files in a NuGet cache, by the bundle
/// packages' nuspecs — on a made-up cache (another TorchSharp's LibTorch beside it, other runtimes' packages) and on
/// the real one this build restored.
/// </summary>
public class LoaderNuGetCacheTests
{
    static void Nuspec(string packages, string id, string version, params (string Id, string Version)[] deps)
    {
        var dir = Directory.CreateDirectory(Path.Combine(packages, id, version)).FullName;
        var list = string.Concat(deps.Select(d => $"<dependency id=\"{d.Id}\" version=\"{d.Version}\" exclude=\"Build,Analyzers\" />"));
        File.WriteAllText(Path.Combine(dir, id + ".nuspec"),
            $"<?xml version=\"1.0\"?><package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\"><metadata>" +
            $"<id>{id}</id><version>{version}</version><dependencies><group targetFramework=\"net8.0\">{list}</group></dependencies></metadata></package>");
    }

    static string Native(string packages, string id, string version, string rid = "linux-x64") =>
        Directory.CreateDirectory(Path.Combine(packages, id, version, "runtimes", rid, "native")).FullName;

    [Fact]
    public void Follows_the_bundles_nuspecs_to_this_runtimes_LibTorch_of_that_version()
    {
        using var tmp = new LoaderFiles.TempDir();
        string p = tmp.Path;
        string torchSharp = Native(p, "torchsharp", "0.107.0");
        Nuspec(p, "torchsharp-cpu", "0.107.0", ("libtorch-cpu", "2.10.0"), ("TorchSharp", "0.107.0"));
        Nuspec(p, "libtorch-cpu", "2.10.0", ("libtorch-cpu-linux-x64", "2.10.0"), ("libtorch-cpu-osx-arm64", "2.10.0"), ("libtorch-cpu-win-x64", "2.10.0"));
        string libTorch = Native(p, "libtorch-cpu-linux-x64", "2.10.0");
        // Another TorchSharp's LibTorch in the same cache, and this version's files for other runtimes: never picked.
        Native(p, "libtorch-cpu-linux-x64", "2.5.1");
        Native(p, "libtorch-cpu-win-x64", "2.10.0", "linux-x64");
        Native(p, "libtorch-cpu-osx-arm64", "2.10.0", "linux-x64");

        Assert.Equal([torchSharp, libTorch], NuGetNativeFolders.For(p, "0.107.0", "linux-x64"));
        // A TorchSharp version with no bundle in the cache: its own folder only, when it is there.
        Assert.Empty(NuGetNativeFolders.For(p, "0.106.0", "linux-x64"));
    }

    [Fact]
    public void CUDA_bundles_with_parts_and_exact_version_ranges_are_followed_too()
    {
        using var tmp = new LoaderFiles.TempDir();
        string p = tmp.Path;
        Nuspec(p, "torchsharp-cuda-linux", "0.107.0", ("libtorch-cuda-12.8-linux-x64", "[2.10.0]"));
        Nuspec(p, "libtorch-cuda-12.8-linux-x64", "2.10.0", ("libtorch-cuda-12.8-linux-x64-part1", "2.10.0"));
        string part = Native(p, "libtorch-cuda-12.8-linux-x64-part1", "2.10.0");
        string main = Native(p, "libtorch-cuda-12.8-linux-x64", "2.10.0");
        Assert.Equal([main, part], NuGetNativeFolders.For(p, "0.107.0", "linux-x64"));
        // Beside a CPU bundle of the same TorchSharp: CPU first, unless the machine has a GPU driver.
        Nuspec(p, "torchsharp-cpu", "0.107.0", ("libtorch-cpu-linux-x64", "2.10.0"));
        string cpu = Native(p, "libtorch-cpu-linux-x64", "2.10.0");
        Assert.Equal([cpu, main, part], NuGetNativeFolders.For(p, "0.107.0", "linux-x64"));
        Assert.Equal([main, part, cpu], NuGetNativeFolders.For(p, "0.107.0", "linux-x64", preferCuda: true));
        Assert.Equal([("libtorch-cuda-12.8-linux-x64", "2.10.0")],
                     NuGetNativeFolders.Dependencies(Path.Combine(p, "torchsharp-cuda-linux", "0.107.0", "torchsharp-cuda-linux.nuspec")));
    }

    [Fact]
    public void In_the_real_cache_the_folders_hold_LibTorchSharp_and_LibTorch()
    {
        string version = typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!
            .InformationalVersion.Split('+')[0];
        string rid = LoaderFiles.RealLibrary().Split(Path.DirectorySeparatorChar).SkipWhile(s => s != "runtimes").ElementAt(1);
        var folders = NuGetNativeFolders.For(NuGetNativeFolders.PackagesRoot(), version, rid);
        // This build restored TorchSharp-cpu from the cache, so both packages are there (a CUDA bundle restored on the
        // same machine would add its own).
        Assert.True(folders.Count >= 2, string.Join(", ", folders));
        Assert.True(File.Exists(Path.Combine(folders[0], "libLibTorchSharp.so")), folders[0]);
        string cpu = Assert.Single(folders, f => f.Contains(Path.Combine("libtorch-cpu-" + rid, "2.10.0")));
        Assert.True(File.Exists(Path.Combine(cpu, "libtorch_cpu.so")), cpu);
    }
}
