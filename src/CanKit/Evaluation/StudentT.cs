namespace CanKit.Evaluation;

/// <summary>Mean, sample standard deviation and the two-sided Student-t interval of a few runs' scores.</summary>
public sealed record SeedSummary(int Count, double Mean, double StdDev, double Low, double High)
{
    /// <summary>Half the interval's width.</summary>
    public double HalfWidth => (High - Low) / 2;

    /// <summary>
    /// The summary of <paramref name="values"/> (one score per seed) with a <paramref name="confidence"/> interval
    /// mean ± t(1 − α/2, n − 1) · s / √n. One value has no spread: its interval is [NaN, NaN].
    /// </summary>
    public static SeedSummary Of(IReadOnlyList<double> values, double confidence = 0.95)
    {
        if (values.Count == 0) throw new ArgumentException("no values to summarise", nameof(values));
        if (values.Any(v => !double.IsFinite(v))) throw new ArgumentException("values must be finite", nameof(values));
        int n = values.Count;
        double mean = values.Average();
        if (n == 1) return new SeedSummary(1, mean, double.NaN, double.NaN, double.NaN);
        double s = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1));   // Bessel's n − 1
        double half = StudentT.Quantile(1 - (1 - confidence) / 2, n - 1) * s / Math.Sqrt(n);
        return new SeedSummary(n, mean, s, mean - half, mean + half);
    }
}

/// <summary>Student's t distribution: its CDF through the regularised incomplete beta function, and its quantile.</summary>
public static class StudentT
{
    /// <summary>P(T ≤ <paramref name="t"/>) with <paramref name="df"/> degrees of freedom: 1 − ½·I_{df/(df+t²)}(df/2, ½) for t ≥ 0.</summary>
    public static double Cdf(double t, double df)
    {
        if (!(df > 0)) throw new ArgumentOutOfRangeException(nameof(df), df, "must be > 0");
        if (double.IsNaN(t)) return double.NaN;
        double tail = 0.5 * RegularizedBeta(df / (df + t * t), df / 2, 0.5);
        return t >= 0 ? 1 - tail : tail;
    }

    /// <summary>The t with P(T ≤ t) = <paramref name="p"/> (bisection on <see cref="Cdf"/> to 1e-12).</summary>
    public static double Quantile(double p, double df)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "must be in (0, 1)");
        if (!(df > 0)) throw new ArgumentOutOfRangeException(nameof(df), df, "must be > 0");
        if (p < 0.5) return -Quantile(1 - p, df);
        double lo = 0, hi = 1;
        while (Cdf(hi, df) < p) hi *= 2;                 // df = 1, p = 0.9995: t ≈ 637, found in 10 doublings
        for (int i = 0; i < 200 && hi - lo > 1e-12 * Math.Max(1, hi); i++)
        {
            double mid = (lo + hi) / 2;
            if (Cdf(mid, df) < p) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>I_x(a, b), by the continued fraction of Numerical Recipes §6.4 (Lentz's method), with the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).</summary>
    public static double RegularizedBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        double lnFront = LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x);
        if (x < (a + 1) / (a + b + 2)) return Math.Exp(lnFront) * BetaFraction(x, a, b) / a;
        return 1 - Math.Exp(lnFront) * BetaFraction(1 - x, b, a) / b;
    }

    private static double BetaFraction(double x, double a, double b)
    {
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        d = 1 / (Math.Abs(d) < tiny ? tiny : d);
        double h = d;
        for (int m = 1; m <= 10000; m++)
        {
            foreach (double num in new[] { m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)) })
            {
                d = 1 + num * d;
                d = 1 / (Math.Abs(d) < tiny ? tiny : d);
                c = 1 + num / c;
                if (Math.Abs(c) < tiny) c = tiny;
                h *= d * c;
            }
            if (Math.Abs(d * c - 1) < 1e-15) break;
        }
        return h;
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; relative error below 1e-15).</summary>
    public static double LogGamma(double x)
    {
        ReadOnlySpan<double> c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
                                  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        x -= 1;
        double s = c[0];
        for (int i = 1; i < 9; i++) s += c[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(s);
    }
}
