using System.Diagnostics;
using CanKit.Distributed;
using CanKit.IO;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Data-parallel training over Gloo on 127.0.0.1 with real worker processes (tests/CanKit.DistWorker). Every run is
/// bounded: collectives time out after CANKIT_DIST_TIMEOUT seconds and the launcher kills workers after a deadline.
/// </summary>
[Collection("processes")]
public sealed class DistributedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-dist-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Dictionary<string, string> Env = new()
    {
        ["CANKIT_DIST_TIMEOUT"] = "20", ["OMP_NUM_THREADS"] = "1", ["OPENBLAS_NUM_THREADS"] = "1",
    };

    // The worker is built next to this test project: tests/CanKit.DistWorker/bin/<Configuration>/<tfm>/.
    private static string WorkerDll()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));           // tests/CanKit.Tests/bin/Release/net10.0
        string tfm = here.Name, config = here.Parent!.Name;
        string dll = Path.GetFullPath(Path.Combine(here.FullName, "../../../../CanKit.DistWorker/bin", config, tfm, "CanKit.DistWorker.dll"));
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution (dotnet build CanKit.sln)");
        return dll;
    }

    private static LaunchResult Launch(int nproc, TimeSpan timeout, TimeSpan? grace = null, params string[] args)
    {
        Assert.True(ProcessGroup.IsAvailable("gloo"), "the native layer was built without Gloo (apt-get install libgloo-dev, then rebuild)");
        return LocalLauncher.Run("dotnet", [WorkerDll(), .. args], nproc, timeout: timeout, grace: grace, environment: Env);
    }

    private static void AssertSucceeded(LaunchResult r) =>
        Assert.True(r.ExitCode == 0, $"{r.Failure}\n" + string.Join("\n", r.Outputs.Select((o, i) => $"--- rank {i}\n{o}")));

    private static string[] Lines(string output, string prefix) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).Where(l => l.StartsWith(prefix)).ToArray();

    [Theory]
    [InlineData("can")]
    [InlineData("cmae")]
    public void TwoProcessesWithHalfBatchesMatchOneProcessWithTheWholeBatch(string method)
    {
        const int steps = 3, global = 8;
        string one = Path.Combine(_dir, "one.safetensors"), two = Path.Combine(_dir, "two.safetensors");
        AssertSucceeded(Launch(1, TimeSpan.FromSeconds(90), null, "equiv", method, $"{steps}", $"{global}", one));
        var r = Launch(2, TimeSpan.FromSeconds(90), null, "equiv", method, $"{steps}", $"{global}", two);
        AssertSucceeded(r);

        // (b) every rank saw bit-identical parameters and buffers after every step
        foreach (var output in r.Outputs)
            Assert.Equal(Enumerable.Range(1, steps).Select(s => $"step {s}").ToArray(), Lines(output, "step ").Select(l => l[..l.IndexOf(" loss")]).ToArray());
        Assert.All(r.Outputs.SelectMany(o => Lines(o, "step ")), l => Assert.EndsWith("identical True", l));

        // (a) the step-1 gradients (averaged over ranks) and the parameters after k SGD steps match the single process
        using var a = SafeTensors.Load(one);
        using var b = SafeTensors.Load(two);
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        Assert.Contains(a.Keys, k => k.StartsWith("grad."));
        foreach (var key in a.Keys)
        {
            var x = a[key].To(DType.Float32).ToArray<float>();
            var y = b[key].To(DType.Float32).ToArray<float>();
            float scale = Math.Max(1e-3f, x.Max(Math.Abs));
            float worst = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
            Assert.True(worst <= 1e-5f * scale, $"{method} {key}: max |Δ| = {worst:E2} (scale {scale:E2})");
        }
    }

    [Fact]
    public void KilledWorkerFailsTheOthersQuicklyAndTheRunResumesOnOneProcess()
    {
        string run = Path.Combine(_dir, "run");
        var clock = Stopwatch.StartNew();
        // rank 1 kills itself after step 3; the checkpoint of step 2 stays
        var r = Launch(2, TimeSpan.FromSeconds(120), TimeSpan.FromSeconds(60), "train", "can", run, "6", "8", "1", "3");
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.NotEqual(0, r.ExitCode);
        Assert.False(r.Killed[0], $"rank 0 hung until the launcher killed it:\n{r.Outputs[0]}");
        Assert.Contains("failed on rank 0 of 2", r.Outputs[0]);
        Assert.Contains("peer", r.Outputs[0]);
        Assert.DoesNotContain("outcome", r.Outputs[0]);
        Assert.True(seconds < 100, $"took {seconds:F0} s");
        Assert.All(r.Outputs.SelectMany(o => Lines(o, "step ")), l => Assert.EndsWith("identical True", l));
        Assert.True(File.Exists(Path.Combine(run, "checkpoint.safetensors")));
        Assert.Single(Directory.GetFiles(run, "checkpoint*"));   // rank 0 alone writes, atomically

        // resume at another world size: the checkpoint counts global batches of 8
        var resumed = Launch(1, TimeSpan.FromSeconds(90), null, "train", "can", run, "6", "8", "-1", "-1");
        AssertSucceeded(resumed);
        Assert.Equal(["step 3", "step 4", "step 5", "step 6"], Lines(resumed.Outputs[0], "step ").Select(l => l[..l.IndexOf(" loss")]).ToArray());
        Assert.Contains("outcome Completed", resumed.Outputs[0]);
    }

    [Fact]
    public void OneProcessCheckpointResumesOnTwoProcessesThatStayIdentical()
    {
        string run = Path.Combine(_dir, "run");
        // one process (CMAE, EMA target included) dies after step 3; its checkpoint is from step 2
        var first = Launch(1, TimeSpan.FromSeconds(90), null, "train", "cmae", run, "6", "8", "0", "3");
        Assert.NotEqual(0, first.ExitCode);
        var r = Launch(2, TimeSpan.FromSeconds(120), null, "train", "cmae", run, "6", "8", "-1", "-1");
        AssertSucceeded(r);
        foreach (var output in r.Outputs)
        {
            Assert.Equal(["step 3", "step 4", "step 5", "step 6"], Lines(output, "step ").Select(l => l[..l.IndexOf(" loss")]).ToArray());
            Assert.All(Lines(output, "step "), l => Assert.EndsWith("identical True", l));
            Assert.Contains("outcome Completed", output);
        }
        using var ckpt = SafeTensors.Load(Path.Combine(run, "checkpoint.safetensors"));
        Assert.True(ckpt.ContainsKey("rng.rank1"));
        Assert.Equal("6", ckpt.Metadata["step"]);
    }
}
