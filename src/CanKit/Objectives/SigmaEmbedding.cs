using CanKit.Vision;

namespace CanKit.Objectives;

/// <summary>
/// Tells the decoder how much noise was added (CAN §3.3): sinusoidal features of σ → Linear → ReLU → Linear,
/// added to every decoder token, [M] tokens included. Without it the denoising target is ambiguous and the
/// paper finds the denoising loss does not help. Names: <c>mlp.0</c>, <c>mlp.2</c>.
/// </summary>
public sealed class SigmaEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly int _width;
    private readonly double _scale;
    private readonly Sequential mlp;

    public Sequential Mlp => mlp;

    /// <param name="width">Decoder width (output size, and size of the sinusoidal features).</param>
    /// <param name="scale">σ is multiplied by this before the sinusoids: σ ≪ 1, and the frequencies span
    /// 1 … 10⁻⁴, so 1000 spreads σ ∈ [0, 0.1] over the useful range (as diffusion models scale timesteps).</param>
    /// <param name="generator">Draws the MLP's initial weights (libtorch's global generator when null).</param>
    public SigmaEmbedding(int width, double scale = 1000, Generator? generator = null) : base(nameof(SigmaEmbedding))
    {
        if (width <= 0 || width % 2 != 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be even and > 0");
        if (!(scale > 0) || double.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "must be finite and > 0");
        _width = width;
        _scale = scale;
        mlp = nn.Sequential(TransformerInit.Linear(width, width, generator), nn.ReLU(), TransformerInit.Linear(width, width, generator));
        RegisterComponents();
    }

    /// <summary>[sin(s·σ·ωₖ), cos(s·σ·ωₖ)] with ωₖ = 10000^(−k/(D/2)): σ [N] → [N, D], in the MLP's parameter
    /// dtype and device (float32 normally, float64 for a model converted with <c>to(float64)</c>).</summary>
    public Tensor Sinusoidal(Tensor sigma)
    {
        if (sigma.dim() != 1) throw new ArgumentException($"σ must be [N], got [{string.Join(", ", sigma.shape)}]", nameof(sigma));
        int half = _width / 2;
        var w = mlp.parameters().First();
        using var k = torch.arange(0, half, 1, w.dtype, w.device);                       // [D/2]
        using var expo = k * (-Math.Log(10000) / half);
        using var freqs = expo.exp();                                                    // [D/2]
        using var sig = sigma.to(w.dtype, w.device);
        using var col = sig.unsqueeze(1);                                                // [N, 1]
        using var s = col * _scale;
        using var f = freqs.unsqueeze(0);                                                // [1, D/2]
        using var args = s * f;                                                          // [N, D/2]
        using var sin = args.sin();
        using var cos = args.cos();
        return torch.cat([sin, cos], 1);                                                 // [N, D]
    }

    /// <summary>σ [N] → embedding [N, D].</summary>
    public override Tensor forward(Tensor sigma)
    {
        using var feats = Sinusoidal(sigma);
        return mlp.call(feats);
    }
}
