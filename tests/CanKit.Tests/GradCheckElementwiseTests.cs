using Xunit;

namespace CanKit.Tests;

/// <summary>Finite-difference gradient checks of elementwise, binary and matrix-product ops.</summary>
public class GradCheckElementwiseTests
{
    private static readonly Dictionary<string, Action<Device, Rng>> Cases = new()
    {
        // ---- binary, with broadcasting ----
        ["add"] = (d, r) => GradCheck.Assert(d, x => x[0].Add(x[1]), r.Normal(3, 4), r.Normal(3, 4)),
        ["add_alpha_broadcast"] = (d, r) => GradCheck.Assert(d, x => x[0].Add(x[1], alpha: -0.7), r.Normal(3, 4), r.Normal(4)),
        ["sub_alpha"] = (d, r) => GradCheck.Assert(d, x => x[0].Sub(x[1], alpha: 2.5), r.Normal(2, 3), r.Normal(2, 1)),
        ["mul"] = (d, r) => GradCheck.Assert(d, x => x[0].Mul(x[1]), r.Normal(3, 4), r.Normal(1, 4)),
        ["div"] = (d, r) => GradCheck.Assert(d, x => x[0].Div(x[1]), r.Normal(3, 4), r.AwayFromZero(0.5, 3, 4)),
        ["pow_tensor"] = (d, r) => GradCheck.Assert(d, x => x[0].Pow(x[1]), r.Uniform(0.5, 2, 3, 4), r.Normal(3, 4)),
        ["pow_scalar"] = (d, r) => GradCheck.Assert(d, x => x[0].Pow(2.5), r.Uniform(0.5, 2, 3, 4)),
        ["pow_integer_scalar"] = (d, r) => GradCheck.Assert(d, x => x[0].Pow(3), r.Normal(3, 4)),
        // Distinct values are multiples of 0.1; the 0.05 offset keeps every pair at least 0.05 apart (no ties).
        ["maximum"] = (d, r) => GradCheck.Assert(d, x => x[0].Maximum(x[1]), r.Distinct(3, 4), r.Distinct(3, 4) + 0.05),
        ["minimum"] = (d, r) => GradCheck.Assert(d, x => x[0].Minimum(x[1]), r.Distinct(3, 4), r.Distinct(3, 4) + 0.05),
        ["where"] = (d, r) =>
        {
            using var cond = Tensor.From(new[] { true, false, false, true, true, false }, 2, 3).To(d);
            GradCheck.Assert(d, x => Tensor.Where(cond, x[0], x[1]), r.Normal(2, 3), r.Normal(1, 3));
        },
        ["masked_fill"] = (d, r) =>
        {
            using var mask = Tensor.From(new[] { true, false, false, true, true, false }, 2, 3).To(d);
            GradCheck.Assert(d, x => x[0].MaskedFill(mask, 3.5), r.Normal(2, 3));
        },

        // ---- operators with scalars ----
        ["scalar_operators"] = (d, r) => GradCheck.Assert(d, x => (2.5 * x[0] + 1.0) / 3.0 - 0.5 + x[0] * 4.0, r.Normal(3, 4)),
        ["reverse_sub_div"] = (d, r) => GradCheck.Assert(d, x => (1.0 - x[0]) + 2.0 / x[0], r.AwayFromZero(0.5, 3, 4)),
        ["neg_operator"] = (d, r) => GradCheck.Assert(d, x => -x[0] * x[1], r.Normal(3), r.Normal(3)),

        // ---- unary ----
        ["exp"] = (d, r) => GradCheck.Assert(d, x => x[0].Exp(), r.Normal(3, 4)),
        ["log"] = (d, r) => GradCheck.Assert(d, x => x[0].Log(), r.Uniform(0.2, 3, 3, 4)),
        ["sqrt"] = (d, r) => GradCheck.Assert(d, x => x[0].Sqrt(), r.Uniform(0.2, 3, 3, 4)),
        ["rsqrt"] = (d, r) => GradCheck.Assert(d, x => x[0].Rsqrt(), r.Uniform(0.2, 3, 3, 4)),
        ["sin"] = (d, r) => GradCheck.Assert(d, x => x[0].Sin(), r.Normal(3, 4)),
        ["cos"] = (d, r) => GradCheck.Assert(d, x => x[0].Cos(), r.Normal(3, 4)),
        ["abs"] = (d, r) => GradCheck.Assert(d, x => x[0].Abs(), r.AwayFromZero(0.1, 3, 4)),
        ["neg"] = (d, r) => GradCheck.Assert(d, x => x[0].Neg(), r.Normal(3, 4)),
        ["clamp"] = (d, r) => GradCheck.Assert(d, x => x[0].Clamp(-0.5, 0.5), AwayFrom(r, [-0.5, 0.5], 0.05, 4, 5)),
        ["clamp_min"] = (d, r) => GradCheck.Assert(d, x => x[0].ClampMin(0.2), AwayFrom(r, [0.2], 0.05, 4, 5)),
        ["clamp_max"] = (d, r) => GradCheck.Assert(d, x => x[0].ClampMax(-0.3), AwayFrom(r, [-0.3], 0.05, 4, 5)),
        ["relu"] = (d, r) => GradCheck.Assert(d, x => x[0].Relu(), r.AwayFromZero(0.1, 3, 4)),
        ["gelu_exact"] = (d, r) => GradCheck.Assert(d, x => x[0].Gelu(), r.Normal(3, 4)),
        ["gelu_tanh"] = (d, r) => GradCheck.Assert(d, x => x[0].Gelu(tanhApproximation: true), r.Normal(3, 4)),
        ["sigmoid"] = (d, r) => GradCheck.Assert(d, x => x[0].Sigmoid(), r.Normal(3, 4)),
        ["tanh"] = (d, r) => GradCheck.Assert(d, x => x[0].Tanh(), r.Normal(3, 4)),
        ["erfinv"] = (d, r) => GradCheck.Assert(d, x => x[0].ErfInv(), r.Uniform(-0.8, 0.8, 3, 4)),

        // ---- products ----
        ["matmul_2d"] = (d, r) => GradCheck.Assert(d, x => x[0].MatMul(x[1]), r.Normal(3, 4), r.Normal(4, 2)),
        ["matmul_batched_broadcast"] = (d, r) => GradCheck.Assert(d, x => x[0].MatMul(x[1]), r.Normal(2, 3, 4), r.Normal(4, 2)),
        ["matmul_vector"] = (d, r) => GradCheck.Assert(d, x => x[0].MatMul(x[1]), r.Normal(4), r.Normal(4, 3)),
        ["mm"] = (d, r) => GradCheck.Assert(d, x => x[0].Mm(x[1]), r.Normal(3, 4), r.Normal(4, 2)),
        ["mm_transposed"] = (d, r) => GradCheck.Assert(d, x => x[0].Mm(x[1].T()), r.Normal(3, 4), r.Normal(2, 4)),
        ["bmm"] = (d, r) => GradCheck.Assert(d, x => x[0].Bmm(x[1]), r.Normal(2, 3, 4), r.Normal(2, 4, 2)),
        ["linear_bias"] = (d, r) => GradCheck.Assert(d, x => Tensor.Linear(x[0], x[1], x[2]), r.Normal(2, 3, 4), r.Normal(5, 4), r.Normal(5)),
        ["linear_no_bias"] = (d, r) => GradCheck.Assert(d, x => Nn.Functional.Linear(x[0], x[1]), r.Normal(3, 4), r.Normal(5, 4)),
        ["addmm"] = (d, r) => GradCheck.Assert(d, x => Tensor.AddMm(x[0], x[1], x[2], beta: 0.5, alpha: 1.5),
                                               r.Normal(3, 2), r.Normal(3, 4), r.Normal(4, 2)),
        ["addmm_broadcast_bias"] = (d, r) => GradCheck.Assert(d, x => Tensor.AddMm(x[0], x[1], x[2]), r.Normal(2), r.Normal(3, 4), r.Normal(4, 2)),
    };

    public static TheoryData<string, string> Data => Devices.Cross(Cases.Keys);

    [Theory]
    [MemberData(nameof(Data))]
    public void Gradient_matches_finite_differences(string device, string op)
    {
        using var scope = Torch.NewDisposeScope();
        Cases[op](Device.Parse(device), new Rng(7));
    }

    /// <summary>Uniform in (-1.5, 1.5), resampled until at least <paramref name="gap"/> from every kink.</summary>
    private static Tensor AwayFrom(Rng r, double[] kinks, double gap, params long[] shape)
    {
        var v = new double[shape.Aggregate(1L, (a, b) => a * b)];
        for (int k = 0; k < v.Length; k++)
            do v[k] = -1.5 + 3 * r.NextDouble(); while (kinks.Any(c => Math.Abs(v[k] - c) < gap));
        return Tensor.From(v, shape);
    }
}
