using CanKit.IO;
using CanKit.Methods;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The modules' contracts beyond their arithmetic: timm/MAE parameter names (so checkpoints load both ways),
/// state-dict round trips, seeded initialisation, dtype conversion keeping every parameter registered.
/// </summary>
public class VisionModuleTests
{
    private static readonly VitConfig Tiny = new() { ImageSize = 8, PatchSize = 4, InChannels = 3, Width = 16, Depth = 2, Heads = 2 };

    [Fact]
    public void EncoderStateDictHasTimmNames()
    {
        using var vit = new VisionTransformer(Tiny, new Generator(1));
        var expected = new List<string> { "patch_embed.proj.weight", "patch_embed.proj.bias", "cls_token", "pos_embed", "norm.weight", "norm.bias" };
        for (int i = 0; i < 2; i++)
            foreach (var p in new[] { "norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2" })
                expected.AddRange([$"blocks.{i}.{p}.weight", $"blocks.{i}.{p}.bias"]);
        Assert.Equal(expected.Order(), vit.state_dict().Keys.Order());
        // pos_embed is a fixed buffer, not trained.
        Assert.DoesNotContain("pos_embed", vit.named_parameters().Select(p => p.name));
        var sd = vit.state_dict();
        Assert.Equal(new long[] { 16, 3, 4, 4 }, sd["patch_embed.proj.weight"].shape);
        Assert.Equal(new long[] { 1, 5, 16 }, sd["pos_embed"].shape);
        Assert.Equal(new long[] { 48, 16 }, sd["blocks.1.attn.qkv.weight"].shape);
        Assert.Equal(new long[] { 64, 16 }, sd["blocks.0.mlp.fc1.weight"].shape);
    }

    [Theory]
    [InlineData("can", true)]
    [InlineData("can_no_sigma", false)]
    public void CanStateDictNamesAreTheGoldenFixturesNames(string fixture, bool sigmaEmbedding)
    {
        using var f = SafeTensors.Load(Path.Combine(AppContext.BaseDirectory, "golden", fixture + ".safetensors"));
        var enc = new VitConfig { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 2, Heads = 2, ClsToken = false };
        using var can = new Can(new CanConfig { Encoder = enc, Decoder = new DecoderConfig { Width = 16, Depth = 1, Heads = 2 },
                                                ProjectionDim = 16, SigmaEmbedding = sigmaEmbedding });
        Assert.Equal(f.Keys.Where(k => k.StartsWith("w.")).Select(k => k[2..]).Order(), can.state_dict().Keys.Order());
    }

    [Fact]
    public void StateDictRoundTripReproducesTheForwardExactly()
    {
        var cfg = new CanConfig { Encoder = Tiny with { ClsToken = false },
                                  Decoder = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 }, ProjectionDim = 8 };
        using var a = new Can(cfg, new Generator(1));
        using var b = new Can(cfg, new Generator(2));
        using var x = torch.randn([2, 3, 8, 8], generator: new Generator(3));
        var given = new StepRandomness(torch.rand([4, 4], generator: new Generator(4)), torch.full([4], 0.03),
                                       torch.randn([4, 3, 8, 8], generator: new Generator(5)));
        double before = b.Forward(x, x, null, given).Terms.Total;
        b.load_state_dict(a.state_dict());
        using var ra = a.Forward(x, x, null, given);
        using var rb = b.Forward(x, x, null, given);
        Assert.NotEqual(ra.Terms.Total, before);
        Assert.Equal(ra.Terms, rb.Terms);
        var bad = a.state_dict();
        bad.Remove("encoder.blocks.0.attn.qkv.weight");
        Assert.Throws<InvalidOperationException>(() => b.load_state_dict(bad));
    }

    [Fact]
    public void SeededInitialisationIsReproducibleAndFollowsMae()
    {
        using var a = new VisionTransformer(Tiny, new Generator(7));
        using var b = new VisionTransformer(Tiny, new Generator(7));
        using var c = new VisionTransformer(Tiny, new Generator(8));
        var pa = a.named_parameters().ToList();
        var pb = b.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var pc = c.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in pa)
        {
            Assert.True(Approx.Values(p).SequenceEqual(Approx.Values(pb[name])), $"{name} differs between two generators seeded alike");
            if (name.EndsWith("weight") && p.dim() >= 2) Assert.NotEqual(Approx.Values(p), Approx.Values(pc[name]));
        }
        // MAE: Linear and patch weights Xavier-uniform U(±√(6/(fan_in + fan_out))), biases 0, norms 1, [CLS] ~ N(0, 0.02).
        foreach (var (name, p) in pa)
        {
            double[] v = Approx.Values(p);
            if (p.dim() >= 2 && name.EndsWith("weight"))
            {
                long fanOut = p.size(0), fanIn = p.numel() / fanOut;
                double bound = Math.Sqrt(6.0 / (fanIn + fanOut));
                Assert.All(v, e => Assert.InRange(e, -bound, bound));
                Assert.True(v.Max(Math.Abs) > 0.8 * bound, $"{name} does not span its bound");
            }
            else if (name.EndsWith("bias")) Assert.All(v, e => Assert.Equal(0, e));
            else if (name.StartsWith("norm") || name.Contains(".norm")) Assert.All(v, e => Assert.Equal(1, e));
        }
        double[] cls = Approx.Values(a.ClsTokenParam!);
        Assert.All(cls, e => Assert.InRange(e, -0.1, 0.1));   // 5σ of N(0, 0.02)
    }

    [Fact]
    public void SeededMethodStepsAreReproducible()
    {
        var cfg = new CanConfig { Encoder = Tiny with { ClsToken = false },
                                  Decoder = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 }, ProjectionDim = 8 };
        LossBreakdown Run(ulong seed)
        {
            var g = new Generator(seed);
            using var can = new Can(cfg, g);
            using var x = torch.randn([2, 3, 8, 8], generator: g);
            using var r = can.Forward(x, x, g);
            return r.Terms;
        }
        Assert.Equal(Run(11), Run(11));
        Assert.NotEqual(Run(11), Run(12));
    }

    [Fact]
    public void ToFloat64KeepsEveryParameterAndBufferRegistered()
    {
        using var vit = new VisionTransformer(Tiny, new Generator(1));
        var names = vit.state_dict().Keys.Order().ToList();
        vit.to(ScalarType.Float64);
        Assert.Equal(names, vit.state_dict().Keys.Order().ToList());
        Assert.All(vit.state_dict().Values, t => Assert.Equal(ScalarType.Float64, t.dtype));
        // The properties read the converted tensors, not stale float32 copies.
        Assert.Equal(ScalarType.Float64, vit.ClsTokenParam!.dtype);
        Assert.Equal(ScalarType.Float64, vit.PosEmbed.dtype);
        Assert.Equal(ScalarType.Float64, vit.PatchWeight.dtype);
        Assert.True(vit.ClsTokenParam.requires_grad);
        using var x = torch.randn([2, 3, 8, 8], ScalarType.Float64);
        using var y = vit.call(x);
        Assert.Equal(new long[] { 2, 5, 16 }, y.shape);
        Assert.Equal(ScalarType.Float64, y.dtype);
    }

    [Fact]
    public void BadShapesAreRejectedNamingTheArgument()
    {
        using var vit = new VisionTransformer(Tiny, new Generator(1));
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => vit.Embed(torch.zeros(2, 3, 16, 16))).ParamName);
        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => vit.Encode(torch.zeros(2, 4, 8))).ParamName);
        using var dec = new MaeDecoder(Tiny, new DecoderConfig { Width = 8, Depth = 1, Heads = 2 });
        Assert.Equal("idsRestore", Assert.Throws<ArgumentException>(() => dec.call(torch.zeros(2, 3, 16), torch.zeros(2, 3, ScalarType.Int64))).ParamName);
        Assert.Equal("noise", Assert.Throws<ArgumentException>(() =>
            Objectives.RandomMasking.Apply(torch.zeros(2, 4, 8), 0.5, noise: torch.zeros(2, 5))).ParamName);
        Assert.Equal("heads", Assert.Throws<ArgumentOutOfRangeException>(() => new Attention(10, 3)).ParamName);
    }
}
