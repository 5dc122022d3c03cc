using CanKit.Nn;
using Xunit;

namespace CanKit.Tests;

public class ModuleTests
{
    private sealed class Attn : Module<Tensor, Tensor>
    {
        public readonly Linear Qkv;
        public Attn() => Qkv = RegisterModule("qkv", new Linear(4, 12));
        public override Tensor Forward(Tensor x) => Qkv.Forward(x);
    }

    private sealed class Block : Module<Tensor, Tensor>
    {
        public readonly Attn AttnMod;
        public readonly LayerNorm Norm;
        public Block()
        {
            Norm = RegisterModule("norm1", new LayerNorm(4));
            AttnMod = RegisterModule("attn", new Attn());
        }
        public override Tensor Forward(Tensor x) => AttnMod.Forward(Norm.Forward(x));
    }

    private sealed class Net : Module<Tensor, Tensor>
    {
        public readonly Sequential Blocks;
        public readonly Tensor PosEmbed;
        public Net()
        {
            Blocks = RegisterModule("blocks", new Sequential(new Block(), new Block()));
            PosEmbed = RegisterBuffer("pos_embed", Tensor.Arange(0, 4, 1, DType.Float32));
        }
        public override Tensor Forward(Tensor x) => Blocks[1].Forward(Blocks[0].Forward(x).Narrow(-1, 0, 4) + PosEmbed);
    }

    [Fact]
    public void StateDictNamesFollowPyTorch()
    {
        using var net = new Net();
        var names = net.StateDict().Keys.ToList();
        Assert.Contains("blocks.0.attn.qkv.weight", names);
        Assert.Contains("blocks.1.attn.qkv.bias", names);
        Assert.Contains("blocks.0.norm1.weight", names);
        Assert.Contains("pos_embed", names);
        Assert.Equal(2 * (4 + 4 + 4 * 12 + 12), net.ParameterCount());
        Assert.DoesNotContain("pos_embed", net.NamedParameters().Select(p => p.Key));
        Assert.All(net.Parameters(), p => Assert.True(p.RequiresGrad));
    }

    [Fact]
    public void LoadStateDictCopiesValuesAndRejectsMismatches()
    {
        using var a = new Net();
        using var b = new Net();
        using var x = Tensor.Randn([3, 4], new Generator(1));
        b.LoadStateDict(a.StateDict());
        using (var ya = a.Forward(x))
        using (var yb = b.Forward(x))
            Assert.Equal(ya.ToArray<float>(), yb.ToArray<float>());

        using var wrong = Tensor.Zeros([5, 4]);
        var bad = a.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value);
        bad["blocks.0.attn.qkv.weight"] = wrong;
        var e = Assert.Throws<ArgumentException>(() => b.LoadStateDict(bad));
        Assert.Contains("blocks.0.attn.qkv.weight", e.Message);

        bad.Remove("blocks.0.attn.qkv.weight");
        e = Assert.Throws<ArgumentException>(() => b.LoadStateDict(bad));
        Assert.Contains("missing [blocks.0.attn.qkv.weight]", e.Message);
    }

    [Fact]
    public void ToChangesDtypeInPlaceKeepingParameterIdentity()
    {
        using var lin = new Linear(3, 2);
        var w = lin.Weight;
        float[] before = w.ToArray<float>();
        lin.To(Device.Cpu, DType.Float64);
        Assert.Same(w, lin.Weight);
        Assert.Equal(DType.Float64, w.DType);
        Assert.True(w.RequiresGrad);
        Assert.True(w.IsLeaf);
        Assert.Equal(before.Select(v => (double)v), w.ToArray<double>());
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndScalesInTraining()
    {
        using var d = new Dropout(0.5);
        using var x = Tensor.Ones([1000]);
        d.Eval();
        using (var y = d.Forward(x)) Assert.All(y.ToArray<float>(), v => Assert.Equal(1f, v));
        d.Train();
        using (var y = d.Forward(x))
        {
            var v = y.ToArray<float>();
            Assert.All(v, e => Assert.True(e == 0f || e == 2f));
            Assert.InRange(v.Count(e => e == 0f), 400, 600);
        }
    }

    [Fact]
    public void LinearInitialisationIsSeededAndBounded()
    {
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var a = new Linear(100, 50, generator: g1);
        using var b = new Linear(100, 50, generator: g2);
        Assert.Equal(a.Weight.ToArray<float>(), b.Weight.ToArray<float>());
        Assert.All(a.Weight.ToArray<float>(), v => Assert.InRange(v, -0.1f, 0.1f));
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-2.0, -0.9953222650189527)]
    [InlineData(3.0, 0.9999779095030014)]
    [InlineData(5.0, 0.9999999999984626)]
    public void ErfMatchesReferenceValues(double x, double expected) => Assert.Equal(expected, Init.Erf(x), 14);

    [Fact]
    public void TruncNormalStaysInBoundsWithTheTruncatedStd()
    {
        using var t = Tensor.Empty([200_000]);
        Init.TruncNormal_(t, mean: 0, std: 1, a: -1, b: 1, generator: new Generator(3));
        var v = t.ToArray<float>();
        Assert.All(v, e => Assert.InRange(e, -1f, 1f));
        double mean = v.Average(e => (double)e), var = v.Average(e => (double)e * e) - mean * mean;
        // Variance of N(0,1) truncated to [-1, 1]: 1 − 2φ(1)/(Φ(1) − Φ(−1)) = 0.29112...
        double phi1 = Math.Exp(-0.5) / Math.Sqrt(2 * Math.PI);
        double expected = 1 - 2 * phi1 / (2 * Init.NormCdf(1) - 1);
        Assert.Equal(0, mean, 2);
        Assert.Equal(expected, var, 2);
    }

    [Fact]
    public void XavierUniformUsesFans()
    {
        using var w = Tensor.Empty([30, 20, 3, 3]);
        Assert.Equal((180L, 270L), Init.Fans(w));
        Init.XavierUniform_(w, generator: new Generator(5));
        double bound = Math.Sqrt(6.0 / (180 + 270));
        var v = w.ToArray<float>();
        Assert.All(v, e => Assert.InRange(e, -bound, bound));
        Assert.True(v.Max() > 0.95 * bound);
    }
}
