using CanKit.Methods;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>Each method runs forward and backward on a tiny model and a few AdamW steps lower its loss.</summary>
public class MethodSmokeTests
{
    private static readonly VitConfig Tiny = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 2, Heads = 2, ClsToken = false };
    private static readonly DecoderConfig TinyDec = new() { Width = 16, Depth = 1, Heads = 2 };

    [Fact]
    public void LossBreakdownReadsEveryTermInOneTransfer()
    {
        // Mixed dtypes, absent terms as 0, a term that needs a gradient left intact.
        using var total = torch.tensor(1.5).requires_grad_();
        using var recon = torch.tensor(0.25, ScalarType.BFloat16);
        using var top1 = torch.tensor(0.75, ScalarType.Float64);
        var terms = LossBreakdown.Read(total, reconstruction: recon, top1: top1);
        Assert.Equal(new LossBreakdown(1.5, 0, 0.25, 0, 0.75), terms);
        Assert.True(total.requires_grad);
        using var two = torch.tensor(2f);
        using var three = torch.tensor(3f);
        Assert.Equal(new LossBreakdown(2, 3, 0, 0, 0), LossBreakdown.Read(two, three));
    }

    private static double TrainSteps(Func<StepResult> step, IEnumerable<Parameter> parameters, int steps, Action? after = null)
    {
        using var opt = torch.optim.AdamW(parameters.Where(p => p.requires_grad), lr: 1e-3);
        double first = 0, last = 0;
        for (int i = 0; i < steps; i++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            using var r = step();
            r.Loss.backward();
            opt.step();
            after?.Invoke();
            Assert.True(double.IsFinite(r.Terms.Total));
            if (i == 0) first = r.Terms.Total;
            last = r.Terms.Total;
        }
        Assert.True(last < first, $"loss did not fall: {first} → {last}");
        return last;
    }

    [Fact]
    public void CanTrains()
    {
        var g = new Generator(1);
        using var can = new Can(new CanConfig { Encoder = Tiny, Decoder = TinyDec, ProjectionDim = 16 }, g);
        using var x1 = torch.randn([8, 3, 16, 16], generator: g);
        using var x2 = torch.randn([8, 3, 16, 16], generator: g);
        Assert.NotNull(can.SigmaEmbed);
        TrainSteps(() => can.Forward(x1, x2, g), can.parameters(), 8);
        using var r = can.Forward(x1, x2, g, keepPredictions: true);
        Assert.Equal(new long[] { 16, 16, 48 }, r.Predictions!.Pixels.shape);
        Assert.True(r.Terms.Denoise > 0 && r.Terms.Reconstruction > 0 && r.Terms.Contrastive > 0);
    }

    [Fact]
    public void MaeAndSimClrTrain()
    {
        var g = new Generator(2);
        using var mae = new Mae(new MaeConfig { Encoder = Tiny with { ClsToken = true }, Decoder = TinyDec }, g);
        using var x = torch.randn([8, 3, 16, 16], generator: g);
        TrainSteps(() => mae.Forward(x, g), mae.parameters(), 8);
        using var simclr = new SimClr(new SimClrConfig { Encoder = Tiny, ProjectionDim = 16 }, g);
        using var x2 = torch.randn([8, 3, 16, 16], generator: g);
        TrainSteps(() => simclr.Forward(x, x2), simclr.parameters(), 8);
    }

    [Fact]
    public void CmaeTrainsAndMovesItsTarget()
    {
        var g = new Generator(3);
        var cfg = new CmaeConfig { Encoder = Tiny with { ClsToken = true }, PixelDecoder = TinyDec,
                                   FeatureDecoder = new DecoderConfig { Width = 32, Depth = 2, Heads = 2 },
                                   ProjectionDim = 16, ProjectionHidden = 32, Momentum = 0.9 };
        using var cmae = new Cmae(cfg, g);
        using var x1 = torch.randn([8, 3, 16, 16], generator: g);
        using var x2 = torch.randn([8, 3, 16, 16], generator: g);
        double[] before = Approx.Values(cmae.TargetEncoder.Blocks[0].Attn.Qkv.weight!);
        long step = 0;
        TrainSteps(() => cmae.Forward(x1, x2, g), cmae.parameters(), 8, () => cmae.UpdateTarget(step++, 8));
        Assert.All(cmae.TargetEncoder.parameters(), p => Assert.False(p.requires_grad));
        Assert.NotEqual(before, Approx.Values(cmae.TargetEncoder.Blocks[0].Attn.Qkv.weight!));
    }
}
