using CanKit.Nn;
using Xunit;

namespace CanKit.Tests;

/// <summary>libtorch's op profiler through <see cref="Torch.Profile"/> and the self-time table of <see cref="ProfileSummary"/>.</summary>
[Collection("engine-settings")]   // process-wide profiler state: one profile at a time
public sealed class ProfilerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-profile-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Self_time_subtracts_the_ops_directly_inside()
    {
        // Thread 1: A [0, 10) contains B [1, 5) which contains C [2, 3); D [5, 9) is A's second child.
        // Thread 2: B [0, 2) alone. Times in µs.
        string path = Path.Combine(_dir, "t.json");
        File.WriteAllText(path, """
            [{"name": "A", "ph": "X", "ts": 0, "dur": 10, "tid": 1},
             {"name": "B", "ph": "X", "ts": 1, "dur": 4, "tid": 1},
             {"name": "C", "ph": "X", "ts": 2, "dur": 1, "tid": 1},
             {"name": "D", "ph": "X", "ts": 5, "dur": 4, "tid": 1},
             {"name": "B", "ph": "X", "ts": 0, "dur": 2, "tid": 2},
             {"name": "flow", "ph": "s", "ts": 0, "tid": 1}]
            """);
        var ops = ProfileSummary.Read(path).ToDictionary(o => o.Name);
        Assert.Equal(4, ops.Count);
        Assert.Equal(new ProfiledOp("A", 1, 0.010, 0.002), ops["A"]);
        Assert.Equal(new ProfiledOp("B", 2, 0.006, 0.005), ops["B"]);
        Assert.Equal(new ProfiledOp("C", 1, 0.001, 0.001), ops["C"]);
        Assert.Equal(new ProfiledOp("D", 1, 0.004, 0.004), ops["D"]);
        Assert.Equal("B", ProfileSummary.Read(path)[0].Name);   // ordered by self time
    }

    [Fact]
    public void Profiles_the_ops_of_a_forward_and_backward_pass()
    {
        string path = Path.Combine(_dir, "trace.json");
        using var a = Tensor.Randn([64, 32]).RequiresGrad_();
        using var b = Tensor.Randn([32, 16]);
        using (Torch.Profile(path))
        {
            for (int i = 0; i < 3; i++)
            {
                using var scope = Torch.NewDisposeScope();
                a.MatMul(b).Relu().Sum().Backward();
            }
        }
        var ops = ProfileSummary.Read(path).ToDictionary(o => o.Name);
        Assert.True(ops["aten::relu"].Calls == 3, $"relu calls: {ops["aten::relu"].Calls}");
        Assert.True(ops["aten::mm"].Calls >= 6, $"mm calls: {ops["aten::mm"].Calls} (3 forward + 3 backward)");
        Assert.All(ops.Values, o => Assert.True(o.SelfMs <= o.TotalMs + 1e-9 && o.SelfMs >= -1e-9, $"{o}"));
    }

    [Fact]
    public void CanKits_own_forward_ops_are_named_in_the_profile()
    {
        // A transformer block's forward: the native layer's fused ops show up as cankit::… with one call each per
        // pass, so `bench profile` can attribute the forward time they take (their backward nodes are named by autograd).
        string path = Path.Combine(_dir, "block.json");
        using var x = Tensor.Randn([2, 5, 16]).RequiresGrad_();
        using var wQkv = Tensor.Randn([48, 16]);
        using var wFc = Tensor.Randn([32, 16]);
        using var bFc = Tensor.Randn([32]);
        using var gamma = Tensor.Ones([16]);
        using var beta = Tensor.Zeros([16]);
        using (Torch.Profile(path))
        {
            for (int i = 0; i < 2; i++)
            {
                using var scope = Torch.NewDisposeScope();
                var h = Functional.LayerNorm(x, [16], gamma, beta);
                var a = Functional.SelfAttention(Functional.Linear(h, wQkv), heads: 2);
                var (_, normed) = Functional.AddLayerNorm(a, x, [16], gamma, beta);
                Functional.LinearGelu(normed, wFc, bFc).Sum().Backward();
            }
        }
        var ops = ProfileSummary.Read(path).ToDictionary(o => o.Name);
        foreach (var name in new[] { "cankit::layer_norm", "cankit::linear", "cankit::self_attention", "cankit::add_layer_norm", "cankit::linear_gelu" })
        {
            Assert.True(ops.ContainsKey(name), $"{name} missing from the profile: {string.Join(", ", ops.Keys)}");
            Assert.Equal(2, ops[name].Calls);
            Assert.True(ops[name].TotalMs > 0, $"{ops[name]}");
        }
    }

    [Fact]
    public void Errors_name_the_problem()
    {
        var missingDir = Assert.Throws<DirectoryNotFoundException>(() => Torch.Profile(Path.Combine(_dir, "no", "t.json")));
        Assert.Contains("does not exist", missingDir.Message);
        using (Torch.Profile(Path.Combine(_dir, "one.json")))
            Assert.Contains("already being recorded", Assert.Throws<TorchException>(() => Torch.Profile(Path.Combine(_dir, "two.json"))).Message);
        string bad = Path.Combine(_dir, "bad.json");
        File.WriteAllText(bad, "{ not json");
        Assert.Contains(bad, Assert.Throws<InvalidDataException>(() => ProfileSummary.Read(bad)).Message);
        Assert.Throws<FileNotFoundException>(() => ProfileSummary.Read(Path.Combine(_dir, "none.json")));
    }
}
