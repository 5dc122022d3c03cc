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

    /// <summary>Compares a tensor of any floating dtype (read back as float64 on the CPU) with expected values.</summary>
    public static void Equal(IReadOnlyList<double> expected, Tensor actual, double tol = F64) => Equal(expected, (IReadOnlyList<double>)Values(actual), tol);

    public static void Equal(double expected, double actual, double tol = F64) => Equal([expected], [actual], tol);

    /// <summary>Every element of a tensor as float64, row-major, read on the CPU.</summary>
    public static double[] Values(Tensor t)
    {
        using var host = t.detach().to(ScalarType.Float64, torch.CPU);
        using var flat = host.contiguous();
        return flat.data<double>().ToArray();
    }
}
