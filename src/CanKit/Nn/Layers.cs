namespace CanKit.Nn;

/// <summary>y = x·Wᵀ + b; x [..., In] → [..., Out]. Initialised like PyTorch: U(−1/√In, 1/√In).</summary>
public sealed class Linear : Module<Tensor, Tensor>
{
    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public long InFeatures { get; }
    public long OutFeatures { get; }

    public Linear(long inFeatures, long outFeatures, bool bias = true, Generator? generator = null)
    {
        if (inFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(inFeatures), inFeatures, "must be > 0");
        if (outFeatures <= 0) throw new ArgumentOutOfRangeException(nameof(outFeatures), outFeatures, "must be > 0");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        double bound = 1.0 / Math.Sqrt(inFeatures);
        Weight = RegisterParameter("weight", Tensor.Empty([outFeatures, inFeatures]).Uniform_(-bound, bound, generator));
        if (bias) Bias = RegisterParameter("bias", Tensor.Empty([outFeatures]).Uniform_(-bound, bound, generator));
    }

    public override Tensor Forward(Tensor x) => Tensor.Linear(x, Weight, Bias);
}

/// <summary>Layer norm over the last dims <c>normalizedShape</c> with learned scale and shift.</summary>
public sealed class LayerNorm : Module<Tensor, Tensor>
{
    private readonly long[] _shape;
    private readonly double _eps;
    public Tensor? Weight { get; }
    public Tensor? Bias { get; }

    public LayerNorm(long normalizedShape, double eps = 1e-5, bool elementwiseAffine = true) : this([normalizedShape], eps, elementwiseAffine) { }

    public LayerNorm(long[] normalizedShape, double eps = 1e-5, bool elementwiseAffine = true)
    {
        if (eps <= 0) throw new ArgumentOutOfRangeException(nameof(eps), eps, "must be > 0");
        _shape = normalizedShape;
        _eps = eps;
        if (elementwiseAffine)
        {
            Weight = RegisterParameter("weight", Tensor.Ones(normalizedShape));
            Bias = RegisterParameter("bias", Tensor.Zeros(normalizedShape));
        }
    }

    public override Tensor Forward(Tensor x) => Functional.LayerNorm(x, _shape, Weight, Bias, _eps);

    /// <summary><c>x + residual</c> and its layer norm, in one op (<see cref="Functional.AddLayerNorm"/>).</summary>
    public (Tensor Sum, Tensor Normed) Forward(Tensor x, Tensor residual) => Functional.AddLayerNorm(x, residual, _shape, Weight, Bias, _eps);
}

/// <summary>Zeroes activations with probability P in training mode.</summary>
public sealed class Dropout(double p = 0.5) : Module<Tensor, Tensor>
{
    public double P { get; } = p is >= 0 and <= 1 ? p : throw new ArgumentOutOfRangeException(nameof(p), p, "must be in [0, 1]");

    public override Tensor Forward(Tensor x) => Functional.Dropout(x, P, Training);
}

public sealed class ReLU : Module<Tensor, Tensor>
{
    public override Tensor Forward(Tensor x) => x.Relu();
}

/// <summary>GELU (exact erf form by default, as ViT uses).</summary>
public sealed class GELU(bool tanhApproximation = false) : Module<Tensor, Tensor>
{
    public override Tensor Forward(Tensor x) => x.Gelu(tanhApproximation);
}

public sealed class Tanh : Module<Tensor, Tensor>
{
    public override Tensor Forward(Tensor x) => x.Tanh();
}

public sealed class Sigmoid : Module<Tensor, Tensor>
{
    public override Tensor Forward(Tensor x) => x.Sigmoid();
}

/// <summary>Applies its children in order; children are named 0, 1, 2, … as in PyTorch.</summary>
public sealed class Sequential : Module<Tensor, Tensor>
{
    private readonly List<Module<Tensor, Tensor>> _layers = [];

    public Sequential(params Module<Tensor, Tensor>[] layers)
    {
        foreach (var l in layers) _layers.Add(RegisterModule(_layers.Count.ToString(), l));
    }

    public int Count => _layers.Count;
    public Module<Tensor, Tensor> this[int i] => _layers[i];

    public override Tensor Forward(Tensor x)
    {
        // Intermediates belong to the caller's dispose scope, if any; without one, free them here.
        bool scoped = DisposeScope.Current != null;
        Tensor h = x;
        foreach (var l in _layers)
        {
            Tensor next = l.Forward(h);
            if (!scoped && !ReferenceEquals(h, x)) h.Dispose();
            h = next;
        }
        return h;
    }
}
