using System.Diagnostics;
using CanKit.Distributed;
using Xunit;

namespace CanKit.Tests;

/// <summary>Data-parallel faults at the rendezvous: a port held by another program, two runs on one port, a rank that never arrives.</summary>
public sealed partial class DistributedTests
{
    private LaunchResult Train(string name, int port) =>
        LocalLauncher.Run("dotnet", [WorkerDll(), "train", "can", Path.Combine(_dir, name), "40", "8", "-1", "-1"], new NodeLayout(2, MasterPort: port),
                          timeout: TimeSpan.FromSeconds(150), grace: TimeSpan.FromSeconds(40), environment: Env);

    [GlooFact]
    public void APortHeldByAnotherProgramStopsBothRanksWithinTheTimeout()
    {
        // Another program listens on the port and accepts, but never answers: rank 0 cannot listen there, and rank 1,
        // connected to the stranger, gives up after the 20 s timeout instead of waiting for the launcher to kill it.
        int port = LocalLauncher.FreePort();
        var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, port);
        squatter.Start();
        var held = new List<System.Net.Sockets.TcpClient>();
        var accepting = Task.Run(async () => { try { while (true) held.Add(await squatter.AcceptTcpClientAsync()); } catch (Exception) { } });
        try
        {
            var clock = Stopwatch.StartNew();
            var r = Train("held", port);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains($"cannot listen on MASTER_PORT {port}", r.Outputs[0]);
            Assert.Contains("did not answer within the timeout: is another program or run using this MASTER_PORT?", r.Outputs[1]);
            Assert.All(r.Killed, k => Assert.False(k, "a rank hung until the launcher killed it"));
            Assert.True(clock.Elapsed.TotalSeconds < 60, $"took {clock.Elapsed.TotalSeconds:F0} s");
        }
        finally
        {
            squatter.Stop();
            foreach (var c in held) c.Dispose();
        }
        AssertSucceeded(Train("held", LocalLauncher.FreePort()));   // on a port of its own the same run trains
    }

    [GlooFact]
    public void ARankThatNeverArrivesIsNamedWithinTheTimeout()
    {
        // Node 0 of two: its rank 0 starts, node 1's rank never does. Rank 0 stops by itself after the 20 s timeout.
        var clock = Stopwatch.StartNew();
        var r = LocalLauncher.Run("dotnet", [WorkerDll(), "train", "can", Path.Combine(_dir, "alone"), "4", "8", "-1", "-1"],
                                  new NodeLayout(1, Nodes: 2, NodeRank: 0, MasterPort: LocalLauncher.FreePort()), timeout: TimeSpan.FromSeconds(120),
                                  environment: Env);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("rank 0 of 2 could not join the group", r.Outputs[0]);
        Assert.Contains("key '1' did not appear within the timeout (a rank did not start?)", r.Outputs[0]);
        Assert.False(r.Killed[0], "rank 0 hung until the launcher killed it");
        Assert.InRange(clock.Elapsed.TotalSeconds, 19, 60);   // the timeout, not before and not long after
        Assert.False(File.Exists(Path.Combine(_dir, "alone", "checkpoint.safetensors")));
    }

    [GlooFact]
    public void TwoRunsStartedOnOnePortNeverShareAGroup()
    {
        // Started at once: if their rendezvous overlap, one rank 0 cannot listen, and a rank that reaches the other run's
        // store finds its rank's key taken; either way each failing rank says so by itself. If one run's rendezvous ends
        // before the other's begins, the port is free again and both train.
        int port = LocalLauncher.FreePort();
        var runs = new[] { "a", "b" }.Select(n => Task.Run(() => Train(n, port))).ToArray().Select(t => t.Result).ToArray();
        Assert.All(runs.SelectMany(r => r.Killed), k => Assert.False(k, "a rank hung until the launcher killed it"));
        foreach (var (r, name) in runs.Zip(new[] { "a", "b" }))
        {
            if (r.ExitCode == 0)
            {
                Assert.All(r.Outputs, o => Assert.Contains("outcome Completed", o));
                Assert.All(r.Outputs.SelectMany(o => Lines(o, "step ")), l => Assert.EndsWith("identical True", l));
                continue;
            }
            Assert.Contains(runs.SelectMany(x => x.Outputs), o => o.Contains($"cannot listen on MASTER_PORT {port}")
                                                                 || o.Contains("another run is using this MASTER_PORT"));
            AssertSucceeded(Train(name, LocalLauncher.FreePort()));   // on a port of its own the run trains
        }
    }
}
