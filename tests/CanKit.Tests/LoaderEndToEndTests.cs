using System.Diagnostics;
using TorchSharp;
using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>TorchSharp in fresh processes (tests/CanKit.LoaderProbe: the loader's module initializer, then a matmul
/// checked against its closed form), and in this test process (EngineSetup's module initializer).</summary>
public class LoaderEndToEndTests
{
    /// <summary>Whether this machine's libstdc++ lacks what libLibTorchSharp.so needs, decided with the real system.</summary>
    static bool SystemNeedsPatch()
    {
        var path = LoaderFiles.RealLibrary();
        return !WeakVersionPatch.Decide(ElfImage.Read(path), path, SystemLibraries.ProvidedVersions).NothingToDo;
    }

    [Fact]
    public void Torch_works_in_this_test_process()
    {
        var expected = SystemNeedsPatch()
            ? new[] { TorchSharpLoader.Outcome.WroteCopy, TorchSharpLoader.Outcome.ReusedCopy }
            : new[] { TorchSharpLoader.Outcome.NotNeeded };
        Assert.Contains(TorchSharpLoader.LastOutcome, expected);
        using var a = torch.eye(2) + torch.ones(2, 2); // [[2,1],[1,2]]² = [[5,4],[4,5]]
        using var c = a.matmul(a);
        Assert.Equal([5f, 4f, 4f, 5f], c.data<float>().ToArray());
    }

    [Fact]
    public void A_fresh_process_writes_the_copy_under_XDG_CACHE_HOME_then_reuses_it()
    {
        using var tmp = new LoaderFiles.TempDir();
        var env = new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = tmp.Path, ["CANKIT_NATIVE_CACHE"] = null, ["CANKIT_LOADER_TRACE"] = "1" };
        var needsPatch = SystemNeedsPatch();

        var first = Probe.Run(env);
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Contains("matmul=6,5,5,5,6,5,5,5,6", first.Output);
        Assert.Contains("[cankit loader]", first.Output); // the trace goes to standard error
        if (needsPatch)
        {
            Assert.Contains("outcome=WroteCopy", first.Output);
            Assert.Contains($"copy={Path.Combine(tmp.Path, "cankit", "native")}", first.Output);
            var second = Probe.Run(env);
            Assert.True(second.ExitCode == 0, second.Output);
            Assert.Contains("outcome=ReusedCopy", second.Output);
        }
        else
        {
            Assert.Contains("outcome=NotNeeded", first.Output);
            Assert.False(Directory.Exists(Path.Combine(tmp.Path, "cankit")));
        }
    }

    [Fact]
    public void Without_the_loader_torch_fails_exactly_where_the_patch_is_needed()
    {
        using var tmp = new LoaderFiles.TempDir();
        var run = Probe.Run(new() { ["CANKIT_LOADER"] = "off", ["CANKIT_NATIVE_CACHE"] = tmp.Path, ["CANKIT_LOADER_TRACE"] = null });
        Assert.Contains("outcome=Disabled", run.Output);
        if (SystemNeedsPatch())
        {
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("LibTorchSharp", run.Output);
        }
        else Assert.True(run.ExitCode == 0, run.Output);
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
    }

    /// <summary>Builds (once) and runs tests/CanKit.LoaderProbe.</summary>
    static class Probe
    {
        static readonly Lazy<string> dll = new(Build);

        public static (int ExitCode, string Output) Run(Dictionary<string, string?> env)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.ArgumentList.Add(dll.Value);
            foreach (var (k, v) in env)
                if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(120_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException("the loader probe ran over 120 s"); }
            return (p.ExitCode, stdout + stderr.Result);
        }

        static string Build()
        {
            var root = RepoPaths.Root();
            var config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            var project = Path.Combine(root, "tests", "CanKit.LoaderProbe");
            var output = Path.Combine(project, "bin", config, "net10.0", "CanKit.LoaderProbe.dll");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "build", project, "-c", config, "-v", "q", "-nologo" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var log = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0 || !File.Exists(output))
                throw new InvalidOperationException($"building {project} failed:\n{log}\n{err.Result}");
            return output;
        }
    }
}
