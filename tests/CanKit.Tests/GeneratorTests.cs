using Xunit;

namespace CanKit.Tests;

/// <summary>Seeded generators: reproducible streams, independent seeds, saved and restored state.</summary>
public class GeneratorTests
{
    public static TheoryData<string> AllDevices => Devices.All();

    /// <summary>One draw of every random creation op, flattened to doubles.</summary>
    private static double[] Draw(Generator g, Device d)
    {
        using var scope = Torch.NewDisposeScope();
        Tensor[] parts =
        [
            Tensor.Rand([5], g, DType.Float64, d),
            Tensor.Randn([5], g, DType.Float64, d),
            Tensor.RandInt(0, 1000, [5], g, device: d).To(DType.Float64),
            Tensor.RandPerm(8, g, d).To(DType.Float64),
            Tensor.Empty([3], DType.Float64, d).Uniform_(-2, 2, g),
            Tensor.Empty([3], DType.Float64, d).Normal_(10, 0.1, g),
        ];
        return parts.SelectMany(p => p.Cpu().ToArray<double>()).ToArray();
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Same_seed_gives_identical_streams_and_different_seeds_differ(string device)
    {
        var d = Device.Parse(device);
        using var g1 = new Generator(42, d);
        using var g2 = new Generator(42, d);
        using var g3 = new Generator(43, d);
        double[] a = Draw(g1, d), b = Draw(g2, d), c = Draw(g3, d);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, Draw(g1, d));                       // the stream advances

        g1.ManualSeed(42);                                     // reseeding restarts it
        Assert.Equal(a, Draw(g1, d));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void GetState_and_SetState_replay_the_stream(string device)
    {
        var d = Device.Parse(device);
        using var g = new Generator(7, d);
        Draw(g, d);
        using var state = g.GetState();
        Assert.Equal(DType.UInt8, state.DType);
        double[] next = Draw(g, d);
        g.SetState(state);
        Assert.Equal(next, Draw(g, d));

        using var other = new Generator(999, d);               // a state moves between generators too
        other.SetState(state);
        Assert.Equal(next, Draw(other, d));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Random_ops_respect_their_ranges(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var d = Device.Parse(device);
        using var g = new Generator(1, d);
        double[] u = Tensor.Rand([10000], g, DType.Float64, d).Cpu().ToArray<double>();
        Assert.All(u, v => Assert.InRange(v, 0, 1 - 1e-300));
        Assert.InRange(u.Average(), 0.48, 0.52);

        double[] n = Tensor.Randn([10000], g, DType.Float64, d).Cpu().ToArray<double>();
        double mean = n.Average();
        Assert.InRange(mean, -0.05, 0.05);
        Assert.InRange(Math.Sqrt(n.Sum(v => (v - mean) * (v - mean)) / n.Length), 0.95, 1.05);

        long[] ints = Tensor.RandInt(-3, 4, [1000], g, device: d).Cpu().ToArray<long>();
        Assert.All(ints, v => Assert.InRange(v, -3, 3));
        Assert.Equal(7, ints.Distinct().Count());

        long[] perm = Tensor.RandPerm(50, g, d).Cpu().ToArray<long>();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), perm.Order());
        Assert.NotEqual(Enumerable.Range(0, 50).Select(i => (long)i), perm);
    }
}
