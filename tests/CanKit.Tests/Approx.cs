using Xunit.Sdk;

namespace CanKit.Tests;

/// <summary>Elementwise closeness assertions with an absolute tolerance, reporting the first mismatch.</summary>
internal static class Approx
{
    public const double F64 = 1e-9;
    public const double F32 = 1e-5;

    public static void Equal(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double tol = F64)
    {
        if (expected.Count != actual.Count)
            throw new XunitException($"expected {expected.Count} elements, got {actual.Count}");
        for (int i = 0; i < expected.Count; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tol))
                throw new XunitException($"element {i}: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tol:E0})");
    }

    /// <summary>Compares a tensor of any floating dtype (read back as float64) with expected values.</summary>
    public static void Equal(IReadOnlyList<double> expected, Tensor actual, double tol = F64)
    {
        using var host = actual.To(Device.Cpu, DType.Float64);
        Equal(expected, host.ToArray<double>(), tol);
    }

    public static void Equal(double expected, double actual, double tol = F64) => Equal([expected], [actual], tol);

    /// <summary>erf(x) = 2/√π · e^(−x²) · Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): all terms positive, no cancellation.</summary>
    public static double Erf(double x)
    {
        if (Math.Abs(x) > 6) return Math.Sign(x);
        double term = x, sum = x;
        for (int n = 1; n < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
        {
            term *= 2 * x * x / (2 * n + 1);
            sum += term;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum;
    }
}
