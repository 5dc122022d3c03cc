namespace CanKit.Nn;

/// <summary>In-place initialisers (PyTorch's <c>torch.nn.init</c>), seeded through an optional generator.</summary>
public static class Init
{
    /// <summary>
    /// Normal(mean, std) truncated to [a, b] (absolute bounds), by PyTorch's inverse-CDF method:
    /// U(2Φ(α)−1, 2Φ(β)−1) → erfinv → ·std√2 + mean → clamp.
    /// </summary>
    public static Tensor TruncNormal_(Tensor t, double mean = 0, double std = 1, double a = -2, double b = 2, Generator? generator = null)
    {
        if (std <= 0) throw new ArgumentOutOfRangeException(nameof(std), std, "must be > 0");
        if (a >= b) throw new ArgumentOutOfRangeException(nameof(a), a, "lower bound must be below upper bound");
        double l = NormCdf((a - mean) / std), u = NormCdf((b - mean) / std);
        using var noGrad = Torch.NoGrad();
        return t.Uniform_(2 * l - 1, 2 * u - 1, generator).ErfInv_().Mul_(std * Math.Sqrt(2)).Add_(mean).Clamp_(a, b);
    }

    /// <summary>U(−g·√(6/(fanIn+fanOut)), +…), fans as PyTorch computes them for ≥ 2-D tensors.</summary>
    public static Tensor XavierUniform_(Tensor t, double gain = 1, Generator? generator = null)
    {
        var (fanIn, fanOut) = Fans(t);
        double bound = gain * Math.Sqrt(6.0 / (fanIn + fanOut));
        using var noGrad = Torch.NoGrad();
        return t.Uniform_(-bound, bound, generator);
    }

    public static Tensor Normal_(Tensor t, double mean = 0, double std = 1, Generator? generator = null)
    {
        using var noGrad = Torch.NoGrad();
        return t.Normal_(mean, std, generator);
    }

    public static Tensor Uniform_(Tensor t, double low = 0, double high = 1, Generator? generator = null)
    {
        using var noGrad = Torch.NoGrad();
        return t.Uniform_(low, high, generator);
    }

    public static Tensor Zeros_(Tensor t)
    {
        using var noGrad = Torch.NoGrad();
        return t.Zero_();
    }

    public static Tensor Ones_(Tensor t)
    {
        using var noGrad = Torch.NoGrad();
        return t.Fill_(1);
    }

    /// <summary>(fan_in, fan_out) = (size(1)·receptive, size(0)·receptive).</summary>
    public static (long FanIn, long FanOut) Fans(Tensor t)
    {
        long[] s = t.Shape;
        if (s.Length < 2) throw new ArgumentException($"fan in/out need a tensor with ≥ 2 dims, got [{string.Join(", ", s)}]", nameof(t));
        long receptive = 1;
        for (int i = 2; i < s.Length; i++) receptive *= s[i];
        return (s[1] * receptive, s[0] * receptive);
    }

    /// <summary>Standard normal CDF via <see cref="Erf"/>.</summary>
    public static double NormCdf(double x) => 0.5 * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>The error function (double precision).</summary>
    public static double Erf(double x)
    {
        // Taylor series where it converges fast; 1 − erfc(x) by its continued fraction in the tail.
        double ax = Math.Abs(x);
        double r = ax < 2.5 ? ErfSeries(ax) : 1 - ErfcContinuedFraction(ax);
        return x < 0 ? -r : r;
    }

    private static double ErfSeries(double x)
    {
        // erf(x) = 2/√π · Σ (−1)^n x^(2n+1) / (n!(2n+1)); converges to double precision for |x| < 2.5 in < 60 terms.
        double sum = 0, term = x;
        for (int n = 0; n < 200; n++)
        {
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static double ErfcContinuedFraction(double x)
    {
        // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))), evaluated bottom-up (Lentz-free, 60 levels).
        double f = x;
        for (int k = 60; k >= 1; k--) f = x + k / 2.0 / f;
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }
}
