using System.Diagnostics;
using CanKit.Distributed;
using CanKit.IO;
using CanKit.Objectives;
using Xunit;

namespace CanKit.Tests;

/// <summary>A test that needs libcankit_gloo (src/CanKit.Native); skipped, saying why, where it was not built.</summary>
public sealed class GlooFactAttribute : FactAttribute
{
    public GlooFactAttribute()
    {
        if (ProcessGroup.Unavailable() is { } why) Skip = why;
    }
}

/// <inheritdoc cref="GlooFactAttribute"/>
public sealed class GlooTheoryAttribute : TheoryAttribute
{
    public GlooTheoryAttribute()
    {
        if (ProcessGroup.Unavailable() is { } why) Skip = why;
    }
}

/// <summary>
/// Data-parallel training over Gloo on 127.0.0.1 with real worker processes (tests/CanKit.DistWorker). Every run is
/// bounded: collectives time out after CANKIT_DIST_TIMEOUT seconds and the launcher kills workers after a deadline.
/// </summary>
[Collection("processes")]
public sealed partial class DistributedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-dist-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Dictionary<string, string> Env = new() { ["CANKIT_DIST_TIMEOUT"] = "20", ["OMP_NUM_THREADS"] = "1" };

    // The worker is built next to this test project: tests/CanKit.DistWorker/bin/<Configuration>/<tfm>/.
    private static string WorkerDll()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));           // tests/CanKit.Tests/bin/Release/net10.0
        string tfm = here.Name, config = here.Parent!.Name;
        string dll = Path.GetFullPath(Path.Combine(here.FullName, "../../../../CanKit.DistWorker/bin", config, tfm, "CanKit.DistWorker.dll"));
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution (dotnet build CanKit.sln)");
        return dll;
    }

    private static LaunchResult Launch(int nproc, TimeSpan timeout, params string[] args) =>
        LocalLauncher.Run("dotnet", [WorkerDll(), .. args], new NodeLayout(nproc), timeout: timeout, grace: TimeSpan.FromSeconds(40), environment: Env);

    private static void AssertSucceeded(LaunchResult r) =>
        Assert.True(r.ExitCode == 0, $"{r.Failure}\n" + string.Join("\n", r.Outputs.Select((o, i) => $"--- rank {i}\n{o}")));

    private static string[] Lines(string output, string prefix) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToArray();

    private static string[] Steps(string output) => Lines(output, "step ").Select(l => string.Join(' ', l.Split(' ').Take(2))).ToArray();

    // Largest |a − b| over the largest |a| of one tensor.
    private static double RelativeDifference(Tensor a, Tensor b)
    {
        using var x = a.to(ScalarType.Float64);
        using var y = b.to(ScalarType.Float64);
        using var d = (x - y).abs().max();
        using var s = x.abs().max();
        return d.item<double>() / Math.Max(1e-12, s.item<double>());
    }

    [GlooTheory]
    [InlineData("can")]
    [InlineData("cmae")]
    public void TwoProcessesWithHalfBatchesMatchOneProcessWithTheWholeBatch(string method)
    {
        const int steps = 3, global = 8;
        string one = Path.Combine(_dir, "one.safetensors"), two = Path.Combine(_dir, "two.safetensors");
        AssertSucceeded(Launch(1, TimeSpan.FromSeconds(90), "equiv", method, $"{steps}", $"{global}", one));
        var r = Launch(2, TimeSpan.FromSeconds(90), "equiv", method, $"{steps}", $"{global}", two);
        AssertSucceeded(r);

        // every rank held bit-identical parameters and buffers after every step
        foreach (var output in r.Outputs)
            Assert.Equal(Enumerable.Range(1, steps).Select(s => $"step {s}"), Steps(output));
        Assert.All(r.Outputs.SelectMany(o => Lines(o, "step ")), l => Assert.EndsWith("identical True", l));

        // The step-1 gradients (averaged over ranks) and the state after 3 SGD steps match the single process up to the
        // order of float32 sums. Reordering a sum of K float32 terms moves it by at most about K·u·Σ|terms| (u = 2⁻²⁴,
        // Higham's γ_K); the longest sums here (weight gradients over 2 views × 8 images × 16 tokens) have K = 256, so
        // K·u ≈ 1.5e-5, and for these dense layers Σ|terms| stays within a small factor of the largest entry; SGD carries
        // the difference forward linearly. 1e-4 of each tensor's largest entry is that bound with margin (measured:
        // ≤ 3e-6); a backward that missed the other ranks' share, or a wrong 1/W, is off by 1e-1 or more.
        using var a = SafeTensors.Load(one);
        using var b = SafeTensors.Load(two);
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        Assert.Contains(a.Keys, k => k.StartsWith("grad.", StringComparison.Ordinal));
        foreach (var key in a.Keys)
        {
            double rel = RelativeDifference(a[key], b[key]);
            Assert.True(rel <= 1e-4, $"{method} {key}: max |Δ| / max |x| = {rel:E2}");
        }
    }

    [GlooFact]
    public void AllGatherWithGradGivesTheSingleProcessGradientOfTheGlobalLoss()
    {
        const int rows = 8;   // global: 2 ranks × 4 rows per view
        string file = Path.Combine(_dir, "gather");
        AssertSucceeded(Launch(2, TimeSpan.FromSeconds(60), "gather", $"{rows}", file));

        // The single process: the same seeded embeddings, negatives from the whole batch.
        using var g = new Generator(11);
        using var z1 = randn([rows, 8], generator: g).requires_grad_();
        using var z2 = randn([rows, 8], generator: g).requires_grad_();
        using var con = InfoNceLoss.Compute(z1, z2, 0.1);
        con.Loss.backward();
        // Sums here have at most 2·8 = 16 terms (softmax over 16 keys, dot products of 8): K·u ≈ 1e-6 of the largest
        // entry; 1e-5 leaves margin. Without the backward's sum over ranks a rank misses every other rank's share.
        for (int r = 0; r < 2; r++)
        {
            using var part = SafeTensors.Load($"{file}.rank{r}");
            Assert.True(RelativeDifference(con.Loss.detach().reshape(1), part["loss"].reshape(1)) <= 1e-5, "loss");
            foreach (var (name, z) in new[] { ("z1.grad", z1), ("z2.grad", z2) })
            {
                using var expected = z.grad!.narrow(0, r * rows / 2, rows / 2);
                double rel = RelativeDifference(expected, part[name]);
                Assert.True(rel <= 1e-5, $"rank {r} {name}: max |Δ| / max |x| = {rel:E2}");
            }
        }
    }

    [GlooFact]
    public void KilledWorkerFailsTheOtherQuicklyAndTheRunResumesOnOneProcess()
    {
        string run = Path.Combine(_dir, "run");
        var clock = Stopwatch.StartNew();
        // rank 1 kills itself after step 3; the checkpoint of step 2 stays
        var r = Launch(2, TimeSpan.FromSeconds(120), "train", "can", run, "6", "8", "1", "3");
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.NotEqual(0, r.ExitCode);
        Assert.False(r.Killed[0], $"rank 0 hung until the launcher killed it:\n{r.Outputs[0]}");
        Assert.Contains("failed on rank 0 of 2", r.Outputs[0]);
        Assert.Contains("DistributedException", r.Outputs[0]);
        Assert.DoesNotContain("outcome", r.Outputs[0]);
        // well inside the 20 s collective timeout: the lost connection is noticed, not waited out
        Assert.True(seconds < 60, $"took {seconds:F0} s");
        Assert.All(r.Outputs.SelectMany(o => Lines(o, "step ")), l => Assert.EndsWith("identical True", l));
        Assert.Single(Directory.GetFiles(run, "*checkpoint*"));   // rank 0 alone writes, atomically

        // resume at another world size: positions count global batches of 8, the generator is the same on every rank
        var resumed = Launch(1, TimeSpan.FromSeconds(90), "train", "can", run, "6", "8", "-1", "-1");
        AssertSucceeded(resumed);
        Assert.Equal(["step 3", "step 4", "step 5", "step 6"], Steps(resumed.Outputs[0]));
        Assert.Contains("outcome Completed", resumed.Outputs[0]);
    }

    [GlooFact]
    public void RanksStartedWithDifferentConfigurationsStopBeforeTheFirstStep()
    {
        // e.g. --precision auto resolved to bf16 on one machine and float32 on another: their run.json differ
        var r = Launch(2, TimeSpan.FromSeconds(90), "train", "can", Path.Combine(_dir, "run"), "2", "8", "-1", "-1", "fingerprint-per-rank");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("rank 1 was started with another run configuration than rank 0", r.Outputs[0]);
        Assert.Empty(r.Outputs.SelectMany(o => Lines(o, "step ")));
    }

    [GlooFact]
    public void OneProcessCheckpointResumesOnTwoProcessesThatStayIdenticalAndMatchTheUninterruptedRun()
    {
        string run = Path.Combine(_dir, "run"), straight = Path.Combine(_dir, "straight");
        // one process (CMAE, EMA target included) dies after step 3; its checkpoint is from step 2
        var first = Launch(1, TimeSpan.FromSeconds(90), "train", "cmae", run, "4", "8", "0", "3");
        Assert.NotEqual(0, first.ExitCode);
        var r = Launch(2, TimeSpan.FromSeconds(120), "train", "cmae", run, "4", "8", "-1", "-1");
        AssertSucceeded(r);
        foreach (var output in r.Outputs)
        {
            Assert.Equal(["step 3", "step 4"], Steps(output));
            Assert.All(Lines(output, "step "), l => Assert.EndsWith("identical True", l));
            Assert.Contains("outcome Completed", output);
        }
        var alone = Launch(1, TimeSpan.FromSeconds(90), "train", "cmae", straight, "4", "8", "-1", "-1");
        AssertSucceeded(alone);
        // The same samples, views, masks and shifts either way, so the logged losses agree up to float32 summation
        // order (AdamW's update is normalised, so they are compared as losses, to 1e-4 relative, not as weights).
        var lossesAlone = Lines(alone.Outputs[0], "step ").Skip(2)
            .Select(l => double.Parse(l.Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var lossesResumed = Lines(r.Outputs[0], "step ")
            .Select(l => double.Parse(l.Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        for (int i = 0; i < 2; i++)
            Assert.True(Math.Abs(lossesAlone[i] - lossesResumed[i]) <= 1e-4 * Math.Abs(lossesAlone[i]),
                        $"step {i + 3}: {lossesAlone[i]} vs {lossesResumed[i]}");
    }
}
