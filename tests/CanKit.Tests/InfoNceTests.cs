using CanKit.Objectives;
using Xunit;

namespace CanKit.Tests;

/// <summary>InfoNCE, symmetric and asymmetric, against closed forms and hand-written references.</summary>
public class InfoNceTests
{
    [Theory]
    [InlineData(2, 0.1)]
    [InlineData(8, 0.5)]
    [InlineData(32, 0.07)]
    public void InfoNceOfIdenticalEmbeddingsIsLogTwoNMinusOne(int n, double tau)
    {
        using var row = torch.randn([1, 16], ScalarType.Float64, generator: new Generator(4));
        using var z = row.expand(n, 16);
        using var r = InfoNceLoss.Compute(z, z, tau);
        Assert.Equal(Math.Log(2 * n - 1), r.Loss.item<double>(), 12);
    }

    [Fact]
    public void InfoNceMatchesAHandWrittenReference()
    {
        const int n = 3, d = 4;
        const double tau = 0.2;
        var g = new Generator(9);
        using var z1 = torch.randn([n, d], ScalarType.Float64, generator: g);
        using var z2 = torch.randn([n, d], ScalarType.Float64, generator: g);
        double[] a = Approx.Values(z1), b = Approx.Values(z2);
        var z = new double[2 * n][];
        for (int i = 0; i < n; i++)
        {
            z[i] = Unit(a.AsSpan(i * d, d));
            z[i + n] = Unit(b.AsSpan(i * d, d));
        }
        double total = 0;
        int hits = 0;
        for (int i = 0; i < 2 * n; i++)
        {
            int pos = i < n ? i + n : i - n;
            var logits = Enumerable.Range(0, 2 * n).Where(j => j != i).Select(j => (j, v: Dot(z[i], z[j]) / tau)).ToList();
            double lse = Math.Log(logits.Sum(t => Math.Exp(t.v)));
            total += lse - logits.First(t => t.j == pos).v;
            if (logits.MaxBy(t => t.v).j == pos) hits++;
        }
        using var r = InfoNceLoss.Compute(z1, z2, tau);
        Assert.Equal(total / (2 * n), r.Loss.item<double>(), 10);
        Assert.Equal((double)hits / (2 * n), r.Top1.item<float>(), 6);   // top-1 is a float32 share

        static double Dot(double[] x, double[] y) => x.Zip(y, (p, q) => p * q).Sum();
        static double[] Unit(ReadOnlySpan<double> v)
        {
            double s = 0;
            foreach (var e in v) s += e * e;
            var o = v.ToArray();
            for (int i = 0; i < o.Length; i++) o[i] /= Math.Sqrt(s);
            return o;
        }
    }

    [Fact]
    public void AsymmetricInfoNceMatchesAHandWrittenReferenceAndStopsTheKeyGradient()
    {
        const int n = 4, d = 3;
        const double tau = 0.07;
        var g = new Generator(10);
        using var q = torch.randn([n, d], ScalarType.Float64, generator: g).requires_grad_();
        using var k = torch.randn([n, d], ScalarType.Float64, generator: g).requires_grad_();
        double[] qa = Approx.Values(q), ka = Approx.Values(k);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var logits = Enumerable.Range(0, n).Select(j => Cos(qa.AsSpan(i * d, d), ka.AsSpan(j * d, d)) / tau).ToArray();
            total += Math.Log(logits.Sum(Math.Exp)) - logits[i];
        }
        using var r = InfoNceLoss.Asymmetric(q, k, tau);
        Assert.Equal(total / n, r.Loss.item<double>(), 10);
        r.Loss.backward();
        Assert.NotNull(q.grad);
        Assert.Null(k.grad);

        static double Cos(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
        {
            double xy = 0, xx = 0, yy = 0;
            for (int i = 0; i < x.Length; i++) { xy += x[i] * y[i]; xx += x[i] * x[i]; yy += y[i] * y[i]; }
            return xy / Math.Sqrt(xx * yy);
        }
    }
}
