using CanKit.Methods;
using CanKit.Optim;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>Each method runs forward and backward on a tiny model and a few steps lower its loss.</summary>
public class MethodSmokeTests
{
    private static readonly VitConfig Tiny = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 32, Depth = 2, Heads = 2, ClsToken = false };
    private static readonly DecoderConfig TinyDec = new() { Width = 16, Depth = 1, Heads = 2 };

    [Fact]
    public void LossBreakdownReadsEveryTermInOneTransfer()
    {
        // Mixed dtypes (a bf16 term under autocast), absent terms as 0, a term that needs a gradient left intact.
        using var total = Tensor.Scalar(1.5).RequiresGrad_();
        using var recon = Tensor.Scalar(0.25, DType.BFloat16);
        using var top1 = Tensor.Scalar(0.75, DType.Float64);
        var terms = LossBreakdown.Read(total, reconstruction: recon, top1: top1);
        Assert.Equal(new LossBreakdown(1.5, 0, 0.25, 0, 0.75), terms);
        Assert.True(total.RequiresGrad);
        using var two = Tensor.Scalar(2);
        using var three = Tensor.Scalar(3);
        Assert.Equal(new LossBreakdown(2, 3, 0, 0, 0), LossBreakdown.Read(two, three));
    }

    private static float TrainSteps(Func<StepResult> step, IEnumerable<Tensor> parameters, int steps, Action? after = null)
    {
        using var opt = new AdamW(parameters.Where(p => p.RequiresGrad), lr: 1e-3);
        float first = 0, last = 0;
        for (int i = 0; i < steps; i++)
        {
            using var scope = Torch.NewDisposeScope();
            opt.ZeroGrad();
            using var r = step();
            r.Loss.Backward();
            opt.Step();
            after?.Invoke();
            Assert.True(double.IsFinite(r.Terms.Total));
            if (i == 0) first = (float)r.Terms.Total;
            last = (float)r.Terms.Total;
        }
        Assert.True(last < first, $"loss did not fall: {first} → {last}");
        return last;
    }

    [Fact]
    public void CanTrains()
    {
        using var g = new Generator(1);
        using var can = new Can(new CanConfig { Encoder = Tiny, Decoder = TinyDec, ProjectionDim = 16 }, g);
        using var x1 = Tensor.Randn([8, 3, 16, 16], g);
        using var x2 = Tensor.Randn([8, 3, 16, 16], g);
        Assert.NotNull(can.SigmaEmbed);
        TrainSteps(() => can.Forward(x1, x2, g), can.Parameters(), 8);
        using var r = can.Forward(x1, x2, g, keepPredictions: true);
        Assert.Equal(new long[] { 16, 16, 48 }, r.Predictions!.Pixels.Shape);
        Assert.True(r.Terms.Denoise > 0 && r.Terms.Reconstruction > 0 && r.Terms.Contrastive > 0);
    }

    [Fact]
    public void MaeAndSimClrTrain()
    {
        using var g = new Generator(2);
        using var mae = new Mae(new MaeConfig { Encoder = Tiny with { ClsToken = true }, Decoder = TinyDec }, g);
        using var x = Tensor.Randn([8, 3, 16, 16], g);
        TrainSteps(() => mae.Forward(x, g), mae.Parameters(), 8);
        using var simclr = new SimClr(new SimClrConfig { Encoder = Tiny, ProjectionDim = 16 }, g);
        using var x2 = Tensor.Randn([8, 3, 16, 16], g);
        TrainSteps(() => simclr.Forward(x, x2), simclr.Parameters(), 8);
    }

    [Fact]
    public void CmaeTrainsAndMovesItsTarget()
    {
        using var g = new Generator(3);
        var cfg = new CmaeConfig { Encoder = Tiny with { ClsToken = true }, PixelDecoder = TinyDec, FeatureDecoder = new DecoderConfig { Width = 32, Depth = 2, Heads = 2 }, ProjectionDim = 16, ProjectionHidden = 32, Momentum = 0.9 };
        using var cmae = new Cmae(cfg, g);
        using var x1 = Tensor.Randn([8, 3, 16, 16], g);
        using var x2 = Tensor.Randn([8, 3, 16, 16], g);
        long step = 0;
        TrainSteps(() => cmae.Forward(x1, x2, g), cmae.Parameters(), 8, () => cmae.UpdateTarget(step++, 8));
        Assert.All(cmae.TargetEncoder.Parameters(), p => Assert.False(p.RequiresGrad));
    }
}
