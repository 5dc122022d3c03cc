using CanKit.Objectives;
using CanKit.Vision;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Finite-difference gradient checks (float64, <see cref="GradCheck"/>) of the compositions CanKit builds from
/// TorchSharp's ops: the attention's head split/merge around scaled_dot_product_attention, the pre-norm block, the
/// encoder with its [CLS] token, the decoder's unshuffle with [M] tokens and σ bias, InfoNCE, the norm-pix loss and
/// the σ embedding. Every case runs on every available device.
/// </summary>
public class ModelGradCheckTests
{
    private static readonly Dictionary<string, Action<Device, Rng>> Cases = new()
    {
        ["attention"] = (d, r) =>
        {
            using var attn = new Attention(8, 2, new Generator(1));
            attn.to(ScalarType.Float64).to(d);
            GradCheck.Assert(d, x => attn.call(x[0]), r.Normal(2, 5, 8));
        },
        ["block"] = (d, r) =>
        {
            using var block = new Block(8, 2, 2, 1e-6, new Generator(2));
            block.to(ScalarType.Float64).to(d);
            GradCheck.Assert(d, x => block.call(x[0]), r.Normal(2, 3, 8));
        },
        ["encoder_with_cls"] = (d, r) =>
        {
            using var vit = new VisionTransformer(new VitConfig { ImageSize = 4, PatchSize = 2, InChannels = 1,
                                                                  Width = 8, Depth = 1, Heads = 2 }, new Generator(3));
            vit.to(ScalarType.Float64).to(d);
            GradCheck.Assert(d, x => vit.Encode(x[0]), r.Normal(2, 3, 8));
        },
        ["encoder_from_images"] = (d, r) =>
        {
            using var vit = new VisionTransformer(new VitConfig { ImageSize = 4, PatchSize = 2, InChannels = 1,
                                                                  Width = 8, Depth = 1, Heads = 2, ClsToken = false }, new Generator(4));
            vit.to(ScalarType.Float64).to(d);
            GradCheck.Assert(d, x => vit.call(x[0]), r.Normal(2, 1, 4, 4));
        },
        ["decoder_with_sigma_bias"] = (d, r) =>
        {
            var enc = new VitConfig { ImageSize = 4, PatchSize = 2, InChannels = 1, Width = 8, Depth = 1, Heads = 2 };
            using var dec = new MaeDecoder(enc, new DecoderConfig { Width = 8, Depth = 1, Heads = 2 }, generator: new Generator(5));
            dec.to(ScalarType.Float64).to(d);
            using var restore = torch.tensor(new long[] { 2, 0, 3, 1, 0, 3, 1, 2 }, [2, 4]).to(d);   // [N, L]
            GradCheck.Assert(d, x => dec.forward(x[0], restore, x[1]), r.Normal(2, 3, 8), r.Normal(2, 8));   // [CLS] + 2 visible
        },
        ["info_nce"] = (d, r) => GradCheck.Assert(d, x => InfoNceLoss.Compute(x[0], x[1], 0.5).Loss, r.Normal(3, 4), r.Normal(3, 4)),
        ["info_nce_asymmetric"] = (d, r) =>
        {
            using var k = r.Normal(3, 4).to(d);
            GradCheck.Assert(d, x => InfoNceLoss.Asymmetric(x[0], k, 0.5).Loss, r.Normal(3, 4));
        },
        ["norm_pix_reconstruction"] = (d, r) =>
        {
            using var mask = torch.tensor(new double[] { 1, 0, 1, 1, 0, 0, 1, 0 }, [2, 4]).to(d);
            GradCheck.Assert(d, x => PatchLosses.Reconstruction(x[0], x[1], mask, 2, normPix: true), r.Normal(2, 4, 4), r.Normal(2, 1, 4, 4));
        },
        ["denoise"] = (d, r) =>
        {
            using var mask = torch.tensor(new double[] { 1, 0, 1, 1, 0, 0, 1, 0 }, [2, 4]).to(d);
            GradCheck.Assert(d, x => PatchLosses.Denoise(x[0], x[1], mask, 2), r.Normal(2, 4, 4), r.Normal(2, 1, 4, 4));
        },
        ["sigma_embedding"] = (d, r) =>
        {
            // σ·1000 is the sinusoids' argument: σ in [0, 0.01] keeps them O(1); ε = 1e-6 moves them by 1e-3.
            using var emb = new SigmaEmbedding(8, scale: 100, generator: new Generator(6));
            emb.to(ScalarType.Float64).to(d);
            GradCheck.Assert(d, x => emb.call(x[0]), r.Uniform(0, 0.01, 3));
        },
    };

    public static TheoryData<string, string> Data => Devices.Cross(Cases.Keys);

    [Theory]
    [MemberData(nameof(Data))]
    public void Gradient_matches_finite_differences(string device, string name)
    {
        using var scope = torch.NewDisposeScope();
        Cases[name](torch.device(device), new Rng(5));
    }
}
