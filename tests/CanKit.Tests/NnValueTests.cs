using Xunit;
using static CanKit.Nn.Functional;

namespace CanKit.Tests;

/// <summary>Values of the nn functions against closed forms computed here in C#.</summary>
public class NnValueTests
{
    public static TheoryData<string> AllDevices => Devices.All();

    /// <summary>Every device × {float32, float64}.</summary>
    public static TheoryData<string, DType> DevicesAndDTypes()
    {
        var data = new TheoryData<string, DType>();
        foreach (var d in Torch.AvailableDevices())
        {
            data.Add(d.ToString(), DType.Float32);
            data.Add(d.ToString(), DType.Float64);
        }
        return data;
    }

    private static double Tol(DType t) => t == DType.Float64 ? Approx.F64 : Approx.F32;

    /// <summary>A seeded normal tensor on the device in the dtype, and its values as the engine holds them.</summary>
    private static (Tensor T, double[] V) Input(Rng r, string device, DType dtype, params long[] shape)
    {
        using var cpu = r.Normal(shape);
        var t = cpu.To(Device.Parse(device), dtype);
        using var back = t.To(Device.Cpu, DType.Float64);
        return (t, back.ToArray<double>());
    }

    private static double[] SoftmaxRow(ReadOnlySpan<double> x)
    {
        double m = double.NegativeInfinity;
        foreach (double v in x) m = Math.Max(m, v);
        double s = 0;
        foreach (double v in x) s += Math.Exp(v - m);
        var p = new double[x.Length];
        for (int i = 0; i < x.Length; i++) p[i] = Math.Exp(x[i] - m) / s;
        return p;
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void Softmax_is_exp_over_sum_exp_and_rows_sum_to_one(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        var (x, v) = Input(new Rng(1), device, dtype, 3, 5);
        double[] expected = Enumerable.Range(0, 3).SelectMany(i => SoftmaxRow(v.AsSpan(i * 5, 5))).ToArray();
        Approx.Equal(expected, Softmax(x, 1), Tol(dtype));
        Approx.Equal([1, 1, 1], Softmax(x, 1).Sum(1), Tol(dtype));
        Approx.Equal(expected.Select(p => Math.Log(p)).ToArray(), LogSoftmax(x, 1), Tol(dtype));
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void LogSumExp_is_stable_for_large_inputs(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        using var x = Tensor.From(new[] { 1000.0, 1001.0, -3.0, 2.0 }, 2, 2).To(Device.Parse(device), dtype);
        // log(e^1000 + e^1001) = 1001 + log(1 + e^-1); log(e^-3 + e^2) = 2 + log(1 + e^-5).
        Approx.Equal([1001 + Math.Log(1 + Math.Exp(-1)), 2 + Math.Log(1 + Math.Exp(-5))], x.LogSumExp(1), dtype == DType.Float64 ? 1e-9 : 1e-4);
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void Var_and_std_match_the_textbook_formulas(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        var (x, v) = Input(new Rng(2), device, dtype, 2, 6);
        double[] unbiased = new double[2], biased = new double[2];
        for (int i = 0; i < 2; i++)
        {
            var row = v.Skip(i * 6).Take(6).ToArray();
            double mean = row.Average(), ss = row.Sum(a => (a - mean) * (a - mean));
            unbiased[i] = ss / 5;
            biased[i] = ss / 6;
        }
        Approx.Equal(unbiased, x.Var(1), Tol(dtype));
        Approx.Equal(biased, x.Var(1, unbiased: false), Tol(dtype));
        Approx.Equal(unbiased.Select(Math.Sqrt).ToArray(), x.Std(1), Tol(dtype));
        Approx.Equal(biased.Select(Math.Sqrt).ToArray(), x.Std(1, unbiased: false), Tol(dtype));
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void LayerNorm_matches_its_formula(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(3);
        var (x, v) = Input(r, device, dtype, 3, 4);
        var (w, wv) = Input(r, device, dtype, 4);
        var (b, bv) = Input(r, device, dtype, 4);
        var expected = new double[12];
        for (int i = 0; i < 3; i++)
        {
            var row = v.Skip(i * 4).Take(4).ToArray();
            double mean = row.Average(), var = row.Sum(a => (a - mean) * (a - mean)) / 4;
            for (int j = 0; j < 4; j++) expected[i * 4 + j] = (row[j] - mean) / Math.Sqrt(var + 1e-5) * wv[j] + bv[j];
        }
        Approx.Equal(expected, LayerNorm(x, [4], w, b), Tol(dtype));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.1)]
    [InlineData(0.3)]
    public void CrossEntropy_with_label_smoothing_matches_the_formula(double eps)
    {
        // loss = mean over samples of (1 − ε)·(−log p_y) + ε·mean_c(−log p_c).
        using var scope = Torch.NewDisposeScope();
        foreach (var device in Torch.AvailableDevices())
        {
            var (logits, v) = Input(new Rng(4), device.ToString(), DType.Float64, 4, 5);
            long[] y = [2, 0, 4, 1];
            using var target = Tensor.From(y).To(device);
            double total = 0;
            for (int i = 0; i < 4; i++)
            {
                double[] logp = SoftmaxRow(v.AsSpan(i * 5, 5)).Select(p => Math.Log(p)).ToArray();
                total += (1 - eps) * -logp[y[i]] + eps * logp.Average(l => -l);
            }
            Approx.Equal(total / 4, CrossEntropy(logits, target, labelSmoothing: eps).Item<double>());
        }
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void Gelu_matches_erf_and_tanh_forms(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        var (x, v) = Input(new Rng(5), device, dtype, 10);
        Approx.Equal(v.Select(a => 0.5 * a * (1 + Approx.Erf(a / Math.Sqrt(2)))).ToArray(), x.Gelu(), Tol(dtype));
        Approx.Equal(v.Select(a => 0.5 * a * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (a + 0.044715 * a * a * a)))).ToArray(),
                     x.Gelu(tanhApproximation: true), Tol(dtype));
    }

    [Fact]
    public void Erf_helper_matches_known_values()
    {
        Approx.Equal(0.8427007929497149, Approx.Erf(1), 1e-15);
        Approx.Equal(-0.9953222650189527, Approx.Erf(-2), 1e-15);
        Approx.Equal(0.9999779095030014, Approx.Erf(3), 1e-15);
    }

    /// <summary>softmax(q·kᵀ/√E + mask)·v for one batch element, with allowed[i, j] false masking j out.</summary>
    private static double[] Attention(double[] q, double[] k, double[] v, int lq, int lk, int e, int ev, Func<int, int, bool> allowed)
    {
        var o = new double[lq * ev];
        for (int i = 0; i < lq; i++)
        {
            var s = new double[lk];
            for (int j = 0; j < lk; j++)
            {
                double dot = 0;
                for (int c = 0; c < e; c++) dot += q[i * e + c] * k[j * e + c];
                s[j] = allowed(i, j) ? dot / Math.Sqrt(e) : double.NegativeInfinity;
            }
            double[] p = SoftmaxRow(s);
            for (int j = 0; j < lk; j++)
                for (int c = 0; c < ev; c++) o[i * ev + c] += p[j] * v[j * ev + c];
        }
        return o;
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void ScaledDotProductAttention_matches_explicit_softmax(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(6);
        var (q, qv) = Input(r, device, dtype, 1, 3, 4);
        var (k, kv) = Input(r, device, dtype, 1, 5, 4);
        var (v, vv) = Input(r, device, dtype, 1, 5, 2);
        bool[] m = [true, false, true, true, false, false, true, false, true, true, true, true, false, false, true];
        using var mask = Tensor.From(m, 3, 5).To(Device.Parse(device));

        Approx.Equal(Attention(qv, kv, vv, 3, 5, 4, 2, (_, _) => true), ScaledDotProductAttention(q, k, v), Tol(dtype));
        Approx.Equal(Attention(qv, kv, vv, 3, 5, 4, 2, (i, j) => m[i * 5 + j]), ScaledDotProductAttention(q, k, v, mask), Tol(dtype));
        Approx.Equal(Attention(qv, kv, vv, 3, 5, 4, 2, (i, j) => j <= i), ScaledDotProductAttention(q, k, v, isCausal: true), Tol(dtype));
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void Conv2d_matches_a_direct_loop(string device, DType dtype)
    {
        const int n = 2, cin = 2, h = 5, w = 4, cout = 3, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 1;
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(7);
        var (x, xv) = Input(r, device, dtype, n, cin, h, w);
        var (k, kv) = Input(r, device, dtype, cout, cin, kh, kw);
        var (b, bv) = Input(r, device, dtype, cout);
        int oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
        var expected = new double[n * cout * oh * ow];
        for (int ni = 0; ni < n; ni++)
            for (int co = 0; co < cout; co++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++)
                    {
                        double s = bv[co];
                        for (int ci = 0; ci < cin; ci++)
                            for (int a = 0; a < kh; a++)
                                for (int c = 0; c < kw; c++)
                                {
                                    int y = i * sh - ph + a, z = j * sw - pw + c;
                                    if (y < 0 || y >= h || z < 0 || z >= w) continue;
                                    s += xv[((ni * cin + ci) * h + y) * w + z] * kv[((co * cin + ci) * kh + a) * kw + c];
                                }
                        expected[((ni * cout + co) * oh + i) * ow + j] = s;
                    }
        using var y2 = Conv2d(x, k, b, stride: (sh, sw), padding: (ph, pw));
        Assert.Equal(new long[] { n, cout, oh, ow }, y2.Shape);
        Approx.Equal(expected, y2, Tol(dtype));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void MseLoss_Normalize_and_Linear_match_their_formulas(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var r = new Rng(8);
        var (a, av) = Input(r, device, DType.Float64, 2, 3);
        var (b, bv) = Input(r, device, DType.Float64, 2, 3);
        var (w, wv) = Input(r, device, DType.Float64, 4, 3);
        var (bias, biasv) = Input(r, device, DType.Float64, 4);

        Approx.Equal(av.Zip(bv, (p, q) => (p - q) * (p - q)).Average(), MseLoss(a, b).Item<double>());
        Approx.Equal(av.Zip(bv, (p, q) => (p - q) * (p - q)).Sum(), MseLoss(a, b, Reduction.Sum).Item<double>());

        var normalised = new double[6];
        for (int i = 0; i < 2; i++)
        {
            double norm = Math.Sqrt(av.Skip(i * 3).Take(3).Sum(t => t * t));
            for (int j = 0; j < 3; j++) normalised[i * 3 + j] = av[i * 3 + j] / norm;
        }
        Approx.Equal(normalised, Normalize(a, dim: 1));

        var linear = new double[8];
        for (int i = 0; i < 2; i++)
            for (int o = 0; o < 4; o++)
                linear[i * 4 + o] = biasv[o] + Enumerable.Range(0, 3).Sum(c => av[i * 3 + c] * wv[o * 3 + c]);
        Approx.Equal(linear, Linear(a, w, bias));
    }

    [Fact]
    public void Dropout_zeroes_or_rescales_and_is_identity_in_eval()
    {
        using var scope = Torch.NewDisposeScope();
        using var x = Tensor.Ones([1000], DType.Float64);
        double[] y = Dropout(x, 0.25, training: true).ToArray<double>();
        Assert.All(y, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75) < 1e-12, $"unexpected value {v}"));
        Assert.InRange(y.Count(v => v == 0), 150, 350);
        Assert.Equal(x.ToArray<double>(), Dropout(x, 0.25, training: false).ToArray<double>());
    }
}
