using CanKit.Tensors;
using CanKit.Vision;

namespace CanKit.Objectives;

/// <summary>How the sinusoid's frequencies ωₖ = 10000^(−k/m), k = 0 … F/2 − 1, are spaced.</summary>
public enum SinusoidFrequencies
{
    /// <summary>m = F/2 (the Transformer's position encoding): the lowest frequency stops one step above 10⁻⁴.</summary>
    Transformer,
    /// <summary>m = F/2 − 1 (denoising-diffusion-pytorch's timestep embedding, which CAN's official code copies): 1 … 10⁻⁴ exactly.</summary>
    Diffusion,
}

/// <summary>
/// Tells the decoder how much noise was added (CAN §3.3): sinusoidal features of σ → Linear → ReLU → Linear. Can adds it
/// to every decoder token, [M] tokens included (CanKit's reading of the paper), or to the encoder's outputs before the
/// decoder's embedding (the official code). Without it the denoising target is ambiguous and the paper finds the
/// denoising loss does not help. Names: <c>mlp.0</c>, <c>mlp.2</c>.
/// </summary>
public sealed class SigmaEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly int _features;
    private readonly double _scale;
    private readonly SinusoidFrequencies _frequencies;
    private readonly Sequential mlp;

    public Sequential Mlp => mlp;

    /// <param name="width">Output size (the width of the tokens it is added to).</param>
    /// <param name="scale">σ is multiplied by this before the sinusoids: σ ≪ 1, and the frequencies span
    /// 1 … 10⁻⁴, so 1000 spreads σ ∈ [0, 0.1] over the useful range (as diffusion models scale timesteps). The official
    /// code uses σ unscaled (1): every argument is then ≤ 0.1, the sines nearly linear in σ, the cosines nearly 1.</param>
    /// <param name="generator">Draws the MLP's initial weights (libtorch's global generator when null).</param>
    /// <param name="features">Number of sinusoidal features F (even); 0: <paramref name="width"/>. Official code: 128.</param>
    /// <param name="frequencies">Spacing of the frequencies (official code: <see cref="SinusoidFrequencies.Diffusion"/>).</param>
    public SigmaEmbedding(int width, double scale = 1000, Generator? generator = null, int features = 0,
                          SinusoidFrequencies frequencies = SinusoidFrequencies.Transformer)
        : base(nameof(SigmaEmbedding))
    {
        if (width <= 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be > 0");
        if (features == 0) features = width;
        int minFeatures = frequencies == SinusoidFrequencies.Diffusion ? 4 : 2;
        if (features < minFeatures || features % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(features), features, $"must be even and ≥ {minFeatures}");
        if (!(scale > 0) || double.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "must be finite and > 0");
        _features = features;
        _scale = scale;
        _frequencies = frequencies;
        mlp = nn.Sequential(TransformerInit.Linear(features, width, generator), nn.ReLU(), TransformerInit.Linear(width, width, generator));
        RegisterComponents();
    }

    /// <summary>[sin(s·σ·ωₖ), cos(s·σ·ωₖ)] with ωₖ = 10000^(−k/m) (m = F/2, or F/2 − 1 for
    /// <see cref="SinusoidFrequencies.Diffusion"/>): σ [N] → [N, F], in the MLP's parameter dtype and device (float32
    /// normally, float64 for a model converted with <c>to(float64)</c>).</summary>
    public Tensor Sinusoidal(Tensor sigma)
    {
        if (sigma.dim() != 1) throw new ArgumentException($"σ must be [N], got {Shapes.Of(sigma)}", nameof(sigma));
        int half = _features / 2;
        int m = _frequencies == SinusoidFrequencies.Diffusion ? half - 1 : half;
        var w = mlp.parameters().First();
        using var k = torch.arange(0, half, 1, w.dtype, w.device);                       // [F/2]
        using var expo = k * (-Math.Log(10000) / m);
        using var freqs = expo.exp();                                                    // [F/2]
        using var sig = sigma.to(w.dtype, w.device);
        using var col = sig.unsqueeze(1);                                                // [N, 1]
        using var s = col * _scale;
        using var f = freqs.unsqueeze(0);                                                // [1, F/2]
        using var args = s * f;                                                          // [N, F/2]
        using var sin = args.sin();
        using var cos = args.cos();
        return torch.cat([sin, cos], 1);                                                 // [N, F]
    }

    /// <summary>σ [N] → embedding [N, D].</summary>
    public override Tensor forward(Tensor sigma)
    {
        using var feats = Sinusoidal(sigma);
        return mlp.call(feats);
    }
}
