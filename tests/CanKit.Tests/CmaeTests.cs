using CanKit.Methods;
using CanKit.Objectives;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>CMAE's switches against the official code's choices: loss scale, block masking, the target's final norm.</summary>
public class CmaeTests
{
    private static readonly VitConfig Enc = new() { ImageSize = 16, PatchSize = 4, InChannels = 3, Width = 16, Depth = 1, Heads = 2, ClsToken = true };

    private static CmaeConfig Config(double tau = 0.07) => CmaeConfig.OfficialCode with
    {
        Encoder = Enc, PixelDecoder = new DecoderConfig { Width = 8, Depth = 1, Heads = 2 },
        FeatureDecoder = new DecoderConfig { Width = 16, Depth = 1, Heads = 2 },
        ProjectionDim = 8, ProjectionHidden = 16, Temperature = tau, MaskRatio = 0.5,
    };

    [Fact]
    public void OfficialPresetIsTheOfficialCodesChoices()
    {
        var c = CmaeConfig.OfficialCode;
        Assert.True(c.ScaleContrastiveByTwoTau);
        Assert.Equal(2 * 0.07, c.EffectiveContrastiveWeight, 15);   // cmae_head.py: ct_weight · 2 · t with ct_weight 1, t 0.07
        Assert.Equal(2, c.MaskBlock);
        Assert.False(c.TargetFinalNorm);
        Assert.Equal(Augment.ShiftFrame.Crop, c.Shift.Frame);
        Assert.Equal(1.0, (c with { ScaleContrastiveByTwoTau = false }).EffectiveContrastiveWeight);
        Assert.Equal("MaskBlock", Assert.Throws<ArgumentOutOfRangeException>(() => (c with { Encoder = Enc, MaskBlock = 5 }).Validate()).ParamName);
    }

    /// <summary>
    /// The InfoNCE enters the loss as λc·2τ·CE (official) or λc·CE: the same weights, views and mask give the same
    /// unweighted terms, a total of recon + w·CE, and predictor gradients (the predictor feeds only the contrastive term)
    /// in the ratio 2τ. float32: the total is two roundings off (≤ 2u of its parts); gradients are the same float32
    /// products scaled once more, so their ratio is 2τ to a few u (1e-5 is generous).
    /// </summary>
    [Theory]
    [InlineData(0.07)]
    [InlineData(0.2)]
    public void ContrastiveTermIsScaledByTwoTau(double tau)
    {
        using var g = new Generator(3);
        using var online = torch.randn([6, 3, 16, 16], generator: g);
        using var target = torch.randn([6, 3, 16, 16], generator: g);
        using var noise = torch.rand([6, 4], generator: g);   // block noise: (16/4/2)² = 4 blocks
        var results = new List<(LossBreakdown Terms, double[] Grad)>();
        foreach (bool scaled in new[] { true, false })
        {
            using var cmae = new Cmae(Config(tau) with { ScaleContrastiveByTwoTau = scaled, ContrastiveWeight = 1.5 }, new Generator(11));
            using var r = cmae.Forward(online, target, null, new StepRandomness(noise));
            r.Loss.backward();
            results.Add((r.Terms, Approx.Values(cmae.Predictor.named_parameters().First(p => p.name == "2.weight").parameter.grad!)));
            double w = scaled ? 1.5 * 2 * tau : 1.5;
            double expected = r.Terms.Reconstruction + w * r.Terms.Contrastive;
            Assert.True(Math.Abs(r.Terms.Total - expected) <= 4.0 / (1 << 24) * (Math.Abs(r.Terms.Reconstruction) + Math.Abs(w * r.Terms.Contrastive)),
                $"total {r.Terms.Total} vs recon + {w}·CE = {expected}");
        }
        Assert.Equal(results[0].Terms.Contrastive, results[1].Terms.Contrastive);
        Assert.Equal(results[0].Terms.Reconstruction, results[1].Terms.Reconstruction);
        double[] a = results[0].Grad, b = results[1].Grad;
        double scale = b.Max(Math.Abs);
        Assert.True(scale > 0);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - 2 * tau * b[i]) <= 1e-5 * scale, $"gradient {i}: {a[i]} vs 2τ·{b[i]}");
    }

    /// <summary>
    /// Without the final norm the target ignores its norm's parameters; with it, a norm of weight 0 makes every target
    /// token its bias, so every key is the same and each query's InfoNCE is exactly log n (all logits equal).
    /// </summary>
    [Fact]
    public void TargetFinalNormSwitch()
    {
        using var g = new Generator(5);
        using var x = torch.randn([6, 3, 16, 16], generator: g);
        using var noise = torch.rand([6, 4], generator: g);
        double Contrastive(bool finalNorm, bool zeroNorm)
        {
            using var cmae = new Cmae(Config() with { TargetFinalNorm = finalNorm }, new Generator(11));
            if (zeroNorm)
                using (torch.no_grad())
                {
                    cmae.TargetEncoder.Norm.weight!.zero_();
                    cmae.TargetEncoder.Norm.bias!.normal_(0, 1, new Generator(2));
                }
            using var r = cmae.Forward(x, x, null, new StepRandomness(noise));
            return r.Terms.Contrastive;
        }
        Assert.Equal(Contrastive(false, false), Contrastive(false, true));
        Assert.Equal(Math.Log(6), Contrastive(true, true), 6);
        Assert.NotEqual(Contrastive(true, false), Contrastive(false, false));
    }

    [Fact]
    public void EncodeIsTheFinalNormOfEncodeWithoutFinalNorm()
    {
        using var vit = new VisionTransformer(Enc, new Generator(4));
        using var x = torch.randn([2, 3, 16, 16], generator: new Generator(6));
        using var t = vit.Embed(x);
        using var pre = vit.EncodeWithoutFinalNorm(t);
        using var normed = vit.Norm.call(pre);
        using var full = vit.Encode(t);
        Assert.Equal(new long[] { 2, 17, 16 }, pre.shape);
        Assert.Equal(Approx.Values(normed), Approx.Values(full));   // the same kernels on the same values
        Assert.NotEqual(Approx.Values(pre), Approx.Values(full));
    }
}
