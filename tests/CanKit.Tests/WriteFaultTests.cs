using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Files that cannot be written, as a full disk or the file-size limit makes them: `cankit` runs in its own process under
/// <c>ulimit -f</c> (with SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of killing the process). The
/// error is one line naming the file; a file being replaced keeps its previous version; no temporary file is left; the
/// same command, with room again, finishes the run. Linux only (bash's ulimit).
/// </summary>
public sealed class WriteFaultTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-writefault-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Cli()
    {
        string config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
        return Path.Combine(RepoPaths.Root(), "src", "CanKit.Cli", "bin", config, "net10.0", "CanKit.Cli.dll");
    }

    // `cankit ARGS` in a child process with the file-size limit at limitKiB (null: none).
    private static (int Code, string Out, string Err) Run(long? limitKiB, params string[] args)
    {
        // The runtime's W^X double mapping sizes a memory file with ftruncate, which the limit also caps: off, or the
        // process would not start ("Out of memory") under a small limit.
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"trap '' XFSZ; {(limitKiB is { } l ? $"ulimit -f {l}; " : "")}exec dotnet \"$0\" \"$@\"");
        psi.ArgumentList.Add(Cli());
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException($"cankit {string.Join(' ', args)} ran over 300 s"); }
        return (p.ExitCode, output, err.Result);
    }

    private static IEnumerable<string> Temporaries(string dir) => Directory.EnumerateFiles(dir, "*.tmp", SearchOption.AllDirectories);

    [Fact]
    public void AFileTooLargeToWriteIsNamedKeepsThePreviousOneAndTheRunFinishesLater()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)) return;   // ulimit and SIGXFSZ: Linux only
        string root = SyntheticData.Cifar10(_dir, perFile: 8);
        string run = Path.Combine(_dir, "run");
        var first = Run(null, SyntheticData.TinyPretrainArgs(root, run, steps: 20));
        Assert.True(first.Code == 0, first.Err);
        long checkpoint = new FileInfo(Path.Combine(run, "checkpoint.safetensors")).Length;

        // An export replaced under a limit below its size: named, the earlier export intact, no temporary file.
        string export = Path.Combine(_dir, "encoder.safetensors");
        var exported = Run(null, "export", "--out", run, "--to", export);
        Assert.True(exported.Code == 0, exported.Err);
        byte[] before = File.ReadAllBytes(export);
        var refused = Run(before.Length / 2048, "export", "--out", run, "--to", export);
        Assert.Equal(1, refused.Code);
        Assert.Equal($"error: {export}: could not be written (the file-size limit was reached (ulimit -f, or the file system's largest file)); " +
                     "the previous file is intact", refused.Err.Trim());
        Assert.Equal(before, File.ReadAllBytes(export));
        Assert.Empty(Temporaries(_dir));

        // A run whose first checkpoint does not fit: named, nothing half-written; the same command with room trains it
        // from the start, and its metrics hold each logged step once.
        string second = Path.Combine(_dir, "second");
        var full = Run(checkpoint / 2048, SyntheticData.TinyPretrainArgs(root, second, steps: 20));
        Assert.Equal(1, full.Code);
        string ckpt = Path.Combine(second, "checkpoint.safetensors");
        Assert.StartsWith($"error: {ckpt}: could not be written (the file-size limit was reached", full.Err.Trim());
        Assert.EndsWith("; nothing was written", full.Err.Trim());
        Assert.False(File.Exists(ckpt));
        Assert.Empty(Temporaries(second));
        var again = Run(null, SyntheticData.TinyPretrainArgs(root, second, steps: 20));
        Assert.True(again.Code == 0, again.Err);
        Assert.Equal(new[] { "10", "20" },
                     File.ReadLines(Path.Combine(second, "metrics.csv")).Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(File.ReadAllBytes(Path.Combine(run, "checkpoint.safetensors")).Length, new FileInfo(ckpt).Length);
    }
}
