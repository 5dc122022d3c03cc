using CanKit.Tensors;

namespace CanKit.Vision;

/// <summary>
/// Seeded initialisation. MAE/timm: Xavier-uniform Linear weights, zero biases, unit LayerNorms (LayerNorm's own
/// default). Each draw comes from <c>generator</c> when given, else from libtorch's global generator, so a model
/// built twice from generators with the same seed has the same weights.
/// </summary>
public static class TransformerInit
{
    /// <summary>
    /// An <c>nn.Linear(inFeatures, outFeatures)</c> with PyTorch's default initialisation (weight and bias ~
    /// U(±1/√in), i.e. Kaiming-uniform with a = √5) drawn from <paramref name="generator"/>.
    /// </summary>
    public static Linear Linear(long inFeatures, long outFeatures, Generator? generator = null, bool hasBias = true)
    {
        var linear = nn.Linear(inFeatures, outFeatures, hasBias);
        if (generator is not null)
        {
            double bound = 1 / Math.Sqrt(inFeatures);
            using var noGrad = torch.no_grad();
            linear.weight!.uniform_(-bound, bound, generator);
            linear.bias?.uniform_(-bound, bound, generator);
        }
        return linear;
    }

    /// <summary>Xavier-uniform U(±√(6 / (fan_in + fan_out))), fans of <paramref name="weight"/> seen as [out, in·k…].</summary>
    public static void XavierUniform(Tensor weight, Generator? generator = null)
    {
        if (weight.dim() < 2) throw new ArgumentException($"Xavier needs a weight with ≥ 2 dims, got {Shapes.Of(weight)}", nameof(weight));
        long fanOut = weight.size(0), fanIn = weight.numel() / fanOut;
        double bound = Math.Sqrt(6.0 / (fanIn + fanOut));
        using var noGrad = torch.no_grad();
        weight.uniform_(-bound, bound, generator);
    }

    /// <summary>
    /// MAE's <c>_init_weights</c> over every parameter of <paramref name="module"/>: 2-D <c>.weight</c>s (all Linear
    /// layers, qkv as one [3D, D] matrix) Xavier-uniform, <c>.bias</c>es zero. Norms, tokens and 4-D weights untouched.
    /// </summary>
    public static void Apply(nn.Module module, Generator? generator)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (p.dim() == 2 && name.EndsWith("weight", StringComparison.Ordinal)) XavierUniform(p, generator);
            else if (name.EndsWith(".bias", StringComparison.Ordinal) || name == "bias") p.zero_();
        }
    }
}
