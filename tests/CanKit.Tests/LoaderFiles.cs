using System.Runtime.InteropServices;

namespace CanKit.Tests;

/// <summary>Where the loader tests find the real TorchSharp native library and a fake system's versions.</summary>
internal static class LoaderFiles
{
    static string Rid => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";

    /// <summary>The libLibTorchSharp.so this test run was built with (next to the tests, else the NuGet cache).</summary>
    public static string RealLibrary()
    {
        var local = Path.Combine(AppContext.BaseDirectory, "runtimes", Rid, "native", "libLibTorchSharp.so");
        if (File.Exists(local)) return local;
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var version = typeof(TorchSharp.torch).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];
        var cached = Path.Combine(packages, "torchsharp", version, "runtimes", Rid, "native", "libLibTorchSharp.so");
        if (File.Exists(cached)) return cached;
        throw new FileNotFoundException($"libLibTorchSharp.so is neither at {local} nor at {cached}");
    }

    /// <summary>A temporary folder removed on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "cankit-loader-" + Guid.NewGuid().ToString("N"));
        public TempDir() => Directory.CreateDirectory(Path);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
