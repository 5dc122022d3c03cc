namespace CanKit.Tests;

/// <summary>Seeded float64 CPU inputs with the shapes and value ranges gradient checks need.</summary>
internal sealed class Rng(int seed)
{
    private readonly Random _r = new(seed);

    private static long Count(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    private Tensor Make(long[] shape, Func<double> next)
    {
        var v = new double[Count(shape)];
        for (int k = 0; k < v.Length; k++) v[k] = next();
        return Tensor.From(v, shape);
    }

    /// <summary>Standard normal (Box–Muller).</summary>
    public Tensor Normal(params long[] shape) => Make(shape, NextNormal);

    public Tensor Uniform(double low, double high, params long[] shape) => Make(shape, () => low + (high - low) * _r.NextDouble());

    /// <summary>|x| in [minAbs, minAbs + 1) with a random sign: safe for abs, relu, sign-dependent kinks at 0.</summary>
    public Tensor AwayFromZero(double minAbs, params long[] shape) =>
        Make(shape, () => (_r.Next(2) == 0 ? -1 : 1) * (minAbs + _r.NextDouble()));

    /// <summary>A random permutation of 0.1·(k − n/2), k = 0..n−1: values at least 0.1 apart, so no ties.</summary>
    public Tensor Distinct(params long[] shape)
    {
        long n = Count(shape);
        double[] v = Enumerable.Range(0, (int)n).Select(k => 0.1 * (k - n / 2.0)).OrderBy(_ => _r.Next()).ToArray();
        return Tensor.From(v, shape);
    }

    public double NextNormal()
    {
        double u1 = 1 - _r.NextDouble(), u2 = _r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public double NextDouble() => _r.NextDouble();
    public int Next(int max) => _r.Next(max);
}
