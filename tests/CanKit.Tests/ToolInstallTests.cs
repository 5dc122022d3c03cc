using Xunit;

namespace CanKit.Tests;

/// <summary>
/// `dotnet tool install` of CanKit.Tool from the local feed into a temporary tool path, then the installed `cankit`:
/// its version, a command's help, and the engine's self-test on the CPU (LibTorch loaded from the tool's own folder,
/// with the Debian 12 workaround where needed). The install uses a temporary NuGet cache, so the user's cache does not
/// gain a 600 MB copy per build.
/// </summary>
public sealed class ToolInstallTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-tool-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [PackageFeedFact]
    public void TheToolInstallsFromTheFeedAndRuns()
    {
        var (feed, version) = PackageFeed.Ensure();
        string toolPath = Path.Combine(_dir, "tools"), root = RepoPaths.Root();
        var env = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(_dir, "packages") };
        var (code, output) = PackageFeed.Run("dotnet",
            ["tool", "install", "--tool-path", toolPath, "--add-source", feed, "--version", version, "CanKit.Tool"],
            _dir, TimeSpan.FromMinutes(5), env);
        Assert.True(code == 0, output);
        Assert.Contains($"'cankit.tool' (version '{version}')", output, StringComparison.OrdinalIgnoreCase);

        string cankit = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "cankit.exe" : "cankit");
        Assert.True(File.Exists(cankit), $"no {cankit} after the install:\n{output}");
        (code, output) = PackageFeed.Run(cankit, ["--version"], _dir, TimeSpan.FromMinutes(1));
        Assert.True(code == 0, output);
        Assert.StartsWith("0.1.0-dev", output.Trim());

        (code, output) = PackageFeed.Run(cankit, ["data", "verify", "--help"], _dir, TimeSpan.FromMinutes(1));
        Assert.True(code == 0, output);
        Assert.Contains("check a fetched dataset", output);

        // The engine from the installed files: matmul, attention, convolution, a CAN loss and its gradient on the CPU,
        // each against its reference, in a process whose only CanKit is the tool's.
        (code, output) = PackageFeed.Run(cankit, ["selftest", "--device", "cpu"], _dir, TimeSpan.FromMinutes(3),
                                         new Dictionary<string, string> { ["CANKIT_LOADER_TRACE"] = "1" });
        Assert.True(code == 0, output);
        Assert.Contains("selftest passed", output);
        Assert.Equal(5, output.Split('\n').Count(l => l.StartsWith("ok ", StringComparison.Ordinal)));
        // TorchSharp's native library is the installed tool's, not the repository's build output's.
        Assert.Contains($"TorchSharp's native library: {Path.Combine(toolPath, ".store", "cankit.tool", version)}", output);
        Assert.DoesNotContain(root, output);
    }
}
