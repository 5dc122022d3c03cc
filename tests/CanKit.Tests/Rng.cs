namespace CanKit.Tests;

/// <summary>Seeded float64 CPU inputs (from .NET's Random, independent of libtorch's generators) for gradient checks.</summary>
internal sealed class Rng(int seed)
{
    private readonly Random _r = new(seed);

    private static long Count(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    private Tensor Make(long[] shape, Func<double> next)
    {
        var v = new double[Count(shape)];
        for (int k = 0; k < v.Length; k++) v[k] = next();
        return torch.tensor(v, shape);
    }

    /// <summary>Standard normal (Box–Muller).</summary>
    public Tensor Normal(params long[] shape) => Make(shape, NextNormal);

    /// <summary>Normal with standard deviation <paramref name="std"/>.</summary>
    public Tensor Scaled(double std, params long[] shape) => Make(shape, () => std * NextNormal());

    public Tensor Uniform(double low, double high, params long[] shape) => Make(shape, () => low + (high - low) * _r.NextDouble());

    public double NextNormal()
    {
        double u1 = 1 - _r.NextDouble(), u2 = _r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public double NextDouble() => _r.NextDouble();
    public int Next(int max) => _r.Next(max);
}
