using CanKit.Nn;

namespace CanKit.Objectives;

/// <summary>
/// Tells the decoder how much noise was added (CAN §3.3): sinusoidal features of σ → Linear → ReLU → Linear,
/// added to every decoder token, [M] tokens included. Without it the denoising target is ambiguous and the
/// paper finds the denoising loss does not help. Names: <c>mlp.0</c>, <c>mlp.2</c>.
/// </summary>
public sealed class SigmaEmbedding : Module<Tensor, Tensor>
{
    private readonly int _width;
    private readonly double _scale;
    private readonly Linear _first;
    public Sequential Mlp { get; }

    /// <param name="width">Decoder width (output size, and size of the sinusoidal features).</param>
    /// <param name="scale">σ is multiplied by this before the sinusoids: σ ≪ 1, and the frequencies span
    /// 1 … 10⁻⁴, so 1000 spreads σ ∈ [0, 0.1] over the useful range (as diffusion models scale timesteps).</param>
    /// <param name="generator">Draws the MLP's initial weights (libtorch's default generator when null).</param>
    public SigmaEmbedding(int width, double scale = 1000, Generator? generator = null)
    {
        if (width % 2 != 0) throw new ArgumentOutOfRangeException(nameof(width), width, "must be even");
        _width = width;
        _scale = scale;
        _first = new Linear(width, width, generator: generator);
        Mlp = RegisterModule("mlp", new Sequential(_first, new ReLU(), new Linear(width, width, generator: generator)));
    }

    /// <summary>[sin(s·σ·ωₖ), cos(s·σ·ωₖ)] with ωₖ = 10000^(−k/(D/2)): σ [N] → [N, D], in the MLP's parameter
    /// dtype (float32 normally, float64 for a model converted with <c>To(device, Float64)</c>).</summary>
    public Tensor Sinusoidal(Tensor sigma)
    {
        int half = _width / 2;
        DType dtype = _first.Weight.DType;
        using var k = Tensor.Arange(0, half, 1, dtype, sigma.Device);                   // [D/2]
        using var expo = k * (-Math.Log(10000) / half);
        using var freqs = expo.Exp();                                                    // [D/2]
        using var s = sigma.To(dtype).Unsqueeze(1) * _scale;                            // [N, 1]
        using var f = freqs.Unsqueeze(0);                                                // [1, D/2]
        using var args = s * f;                                                          // [N, D/2]
        using var sin = args.Sin();
        using var cos = args.Cos();
        return Tensor.Cat([sin, cos], 1);                                                // [N, D]
    }

    /// <summary>σ [N] → embedding [N, D].</summary>
    public override Tensor Forward(Tensor sigma)
    {
        using var feats = Sinusoidal(sigma);
        return Mlp.Forward(feats);
    }
}
