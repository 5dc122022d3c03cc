using Xunit.Sdk;

namespace CanKit.Tests;

/// <summary>
/// Finite-difference gradient checker in float64. The output of f is reduced to a scalar
/// S = Σ wᵢ·outᵢ with fixed random weights w, so every output element contributes with a different weight;
/// autograd's ∂S/∂x (x.grad after backward) is compared elementwise with central differences
/// (S(x + ε·eⱼ) − S(x − ε·eⱼ)) / 2ε, ε = 1e-6, within |analytic − numeric| ≤ atol + rtol·|numeric|.
/// The central difference's truncation error is O(ε²·f‴) ≈ 1e-12 and its rounding error ≈ 1e-16·|S|/ε ≈ 1e-10·|S|,
/// far below atol = 1e-6 for the O(1) sums checked here. Pick inputs away from kinks (ReLU at 0, ties for argmax).
/// </summary>
internal static class GradCheck
{
    public const double Eps = 1e-6;
    public const double Atol = 1e-6;
    public const double Rtol = 1e-5;

    /// <summary>
    /// Checks every element of every input. <paramref name="inputs"/> are float64 CPU tensors; each is copied
    /// to <paramref name="device"/> as a fresh leaf. Tensors f closes over (indices, masks, weights) are not perturbed.
    /// </summary>
    public static void Assert(Device device, Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        using var scope = torch.NewDisposeScope();
        double[][] values = inputs.Select(Approx.Values).ToArray();
        long[][] shapes = inputs.Select(x => x.shape).ToArray();

        // Analytic: backward from S = Σ w·out.
        Tensor[] leaves = inputs.Select(x => x.to(ScalarType.Float64, device, copy: true).requires_grad_()).ToArray();
        Tensor output = f(leaves);
        Xunit.Assert.Equal(ScalarType.Float64, output.dtype);
        double[] weights = Weights(output.numel());
        var w = torch.tensor(weights, output.shape).to(device);
        (output * w).sum().backward();

        for (int i = 0; i < inputs.Length; i++)
        {
            Tensor? grad = leaves[i].grad;
            Xunit.Assert.True(grad is not null, $"input {i} received no gradient");
            Xunit.Assert.Equal(shapes[i], grad!.shape);
            double[] analytic = Approx.Values(grad);

            for (int j = 0; j < values[i].Length; j++)
            {
                double numeric = (Weighted(f, device, values, shapes, weights, i, j, +Eps)
                                - Weighted(f, device, values, shapes, weights, i, j, -Eps)) / (2 * Eps);
                double err = Math.Abs(analytic[j] - numeric);
                if (err > Atol + Rtol * Math.Abs(numeric))
                    throw new XunitException(
                        $"gradient of input {i} element {j}: autograd {analytic[j]:R}, finite difference {numeric:R}, |diff| {err:E2}");
            }
        }
    }

    /// <summary>Σ w·f(inputs) with element j of input i shifted by delta, evaluated without autograd.</summary>
    private static double Weighted(Func<Tensor[], Tensor> f, Device device, double[][] values, long[][] shapes,
                                   double[] weights, int i, int j, double delta)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var xs = new Tensor[values.Length];
        for (int k = 0; k < values.Length; k++)
        {
            double[] v = values[k];
            if (k == i)
            {
                v = (double[])v.Clone();
                v[j] += delta;
            }
            xs[k] = torch.tensor(v, shapes[k]).to(device);
        }
        double[] outValues = Approx.Values(f(xs));
        double s = 0;
        for (int k = 0; k < outValues.Length; k++) s += weights[k] * outValues[k];
        return s;
    }

    /// <summary>Fixed weights in [0.5, 1.5) with random signs: every output element matters, none cancel by symmetry.</summary>
    private static double[] Weights(long n)
    {
        var r = new Random(20240607);
        var w = new double[n];
        for (long k = 0; k < n; k++) w[k] = (r.Next(2) == 0 ? -1 : 1) * (0.5 + r.NextDouble());
        return w;
    }
}
