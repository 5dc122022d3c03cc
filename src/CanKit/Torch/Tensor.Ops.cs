using System.Runtime.CompilerServices;

namespace CanKit;

// Elementwise math, operators, products and reductions. Names and semantics follow PyTorch.
public sealed unsafe partial class Tensor
{
    static Tensor() => Torch.EnsureInitialised();

    private static Tensor R(TensorHandle h, [CallerMemberName] string op = "") => NativeCheck.Result(h, op);
    private static void S(int status, [CallerMemberName] string op = "") => NativeCheck.Status(status, op);
    private static int I(bool b) => b ? 1 : 0;

    // ---- unary -------------------------------------------------------------------------------------------
    public Tensor Neg() => R(Native.ck_neg(H));
    public Tensor Exp() => R(Native.ck_exp(H));
    public Tensor Log() => R(Native.ck_log(H));
    public Tensor Sqrt() => R(Native.ck_sqrt(H));
    public Tensor Rsqrt() => R(Native.ck_rsqrt(H));
    public Tensor Sin() => R(Native.ck_sin(H));
    public Tensor Cos() => R(Native.ck_cos(H));
    public Tensor Abs() => R(Native.ck_abs(H));
    public Tensor Sign() => R(Native.ck_sign(H));
    public Tensor Floor() => R(Native.ck_floor(H));
    public Tensor Round() => R(Native.ck_round(H));
    public Tensor Relu() => R(Native.ck_relu(H));
    public Tensor Sigmoid() => R(Native.ck_sigmoid(H));
    public Tensor Tanh() => R(Native.ck_tanh(H));
    public Tensor ErfInv() => R(Native.ck_erfinv(H));
    public Tensor IsNan() => R(Native.ck_isnan(H));
    public Tensor IsFinite() => R(Native.ck_isfinite(H));
    public Tensor LogicalNot() => R(Native.ck_logical_not(H));

    /// <summary>GELU; <paramref name="tanhApproximation"/> selects PyTorch's approximate='tanh'.</summary>
    public Tensor Gelu(bool tanhApproximation = false) => R(Native.ck_gelu(H, I(tanhApproximation)));

    public Tensor Pow(double exponent) => R(Native.ck_pow_s(H, exponent, 0));
    public Tensor Pow(Tensor exponent) => R(Native.ck_pow(H, exponent.H));
    public Tensor Clamp(double min, double max) => R(Native.ck_clamp(H, min, max));
    public Tensor ClampMin(double min) => R(Native.ck_clamp_min(H, min, 0));
    public Tensor ClampMax(double max) => R(Native.ck_clamp_max(H, max, 0));

    // ---- binary ------------------------------------------------------------------------------------------
    /// <summary>this + alpha·other (broadcasting).</summary>
    public Tensor Add(Tensor other, double alpha = 1) => R(Native.ck_add(H, other.H, alpha));
    public Tensor Sub(Tensor other, double alpha = 1) => R(Native.ck_sub(H, other.H, alpha));
    public Tensor Mul(Tensor other) => R(Native.ck_mul(H, other.H));
    public Tensor Div(Tensor other) => R(Native.ck_div(H, other.H));
    public Tensor Maximum(Tensor other) => R(Native.ck_maximum(H, other.H));
    public Tensor Minimum(Tensor other) => R(Native.ck_minimum(H, other.H));
    public Tensor MatMul(Tensor other) => R(Native.ck_matmul(H, other.H));
    public Tensor Mm(Tensor other) => R(Native.ck_mm(H, other.H));
    /// <summary>Batched matrix product: [B, n, m] × [B, m, p] → [B, n, p].</summary>
    public Tensor Bmm(Tensor other) => R(Native.ck_bmm(H, other.H));
    /// <summary>2-D transpose.</summary>
    public Tensor T() => R(Native.ck_t(H));

    public Tensor Eq(Tensor other) => R(Native.ck_eq(H, other.H));
    public Tensor Ne(Tensor other) => R(Native.ck_ne(H, other.H));
    public Tensor Lt(Tensor other) => R(Native.ck_lt(H, other.H));
    public Tensor Le(Tensor other) => R(Native.ck_le(H, other.H));
    public Tensor Gt(Tensor other) => R(Native.ck_gt(H, other.H));
    public Tensor Ge(Tensor other) => R(Native.ck_ge(H, other.H));
    public Tensor Eq(double v) => R(Native.ck_eq_s(H, v, 0));
    public Tensor Ne(double v) => R(Native.ck_ne_s(H, v, 0));
    public Tensor Lt(double v) => R(Native.ck_lt_s(H, v, 0));
    public Tensor Le(double v) => R(Native.ck_le_s(H, v, 0));
    public Tensor Gt(double v) => R(Native.ck_gt_s(H, v, 0));
    public Tensor Ge(double v) => R(Native.ck_ge_s(H, v, 0));
    public Tensor LogicalAnd(Tensor other) => R(Native.ck_logical_and(H, other.H));
    public Tensor LogicalOr(Tensor other) => R(Native.ck_logical_or(H, other.H));

    /// <summary>Fills positions where <paramref name="mask"/> is true with <paramref name="value"/>.</summary>
    public Tensor MaskedFill(Tensor mask, double value) => R(Native.ck_masked_fill(H, mask.H, value, I(!DType.IsFloatingPoint())));

    /// <summary>Elementwise choice: <paramref name="condition"/> ? <paramref name="a"/> : <paramref name="b"/>.</summary>
    public static Tensor Where(Tensor condition, Tensor a, Tensor b) => R(Native.ck_where(condition.H, a.H, b.H));

    /// <summary>x·Wᵀ + b with x [..., in], W [out, in], b [out] (may be null).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) => R(Native.ck_linear(x.H, weight.H, bias?.H ?? TensorHandle.Null));

    /// <summary>beta·bias + alpha·(a @ b) for 2-D a, b.</summary>
    public static Tensor AddMm(Tensor bias, Tensor a, Tensor b, double beta = 1, double alpha = 1) =>
        R(Native.ck_addmm(bias.H, a.H, b.H, beta, alpha));

    // ---- operators (PyTorch's scalar rules: an integer scalar keeps an integer tensor integer) -------------
    public static Tensor operator +(Tensor a, Tensor b) => R(Native.ck_add(a.H, b.H, 1), "Add");
    public static Tensor operator -(Tensor a, Tensor b) => R(Native.ck_sub(a.H, b.H, 1), "Sub");
    public static Tensor operator *(Tensor a, Tensor b) => R(Native.ck_mul(a.H, b.H), "Mul");
    public static Tensor operator /(Tensor a, Tensor b) => R(Native.ck_div(a.H, b.H), "Div");
    public static Tensor operator -(Tensor a) => R(Native.ck_neg(a.H), "Neg");
    public static Tensor operator +(Tensor a, double b) => R(Native.ck_add_s(a.H, b, 0), "Add");
    public static Tensor operator +(double a, Tensor b) => R(Native.ck_add_s(b.H, a, 0), "Add");
    public static Tensor operator -(Tensor a, double b) => R(Native.ck_sub_s(a.H, b, 0), "Sub");
    public static Tensor operator -(double a, Tensor b) => R(Native.ck_rsub_s(b.H, a, 0), "RSub");
    public static Tensor operator *(Tensor a, double b) => R(Native.ck_mul_s(a.H, b, 0), "Mul");
    public static Tensor operator *(double a, Tensor b) => R(Native.ck_mul_s(b.H, a, 0), "Mul");
    public static Tensor operator /(Tensor a, double b) => R(Native.ck_div_s(a.H, b, 0), "Div");
    public static Tensor operator /(double a, Tensor b) => R(Native.ck_rdiv_s(b.H, a, 0), "RDiv");
    public static Tensor operator +(Tensor a, long b) => R(Native.ck_add_s(a.H, b, 1), "Add");
    public static Tensor operator -(Tensor a, long b) => R(Native.ck_sub_s(a.H, b, 1), "Sub");
    public static Tensor operator *(Tensor a, long b) => R(Native.ck_mul_s(a.H, b, 1), "Mul");
    public static Tensor operator <(Tensor a, Tensor b) => a.Lt(b);
    public static Tensor operator >(Tensor a, Tensor b) => a.Gt(b);
    public static Tensor operator <=(Tensor a, Tensor b) => a.Le(b);
    public static Tensor operator >=(Tensor a, Tensor b) => a.Ge(b);
    public static Tensor operator <(Tensor a, double b) => a.Lt(b);
    public static Tensor operator >(Tensor a, double b) => a.Gt(b);
    public static Tensor operator <=(Tensor a, double b) => a.Le(b);
    public static Tensor operator >=(Tensor a, double b) => a.Ge(b);

    // ---- in place (return this) --------------------------------------------------------------------------
    public Tensor Add_(Tensor other, double alpha = 1) { S(Native.ck_add_(H, other.H, alpha)); return this; }
    public Tensor Mul_(Tensor other) { S(Native.ck_mul_(H, other.H)); return this; }
    public Tensor Add_(double v) { S(Native.ck_add_s_(H, v, 0)); return this; }
    public Tensor Mul_(double v) { S(Native.ck_mul_s_(H, v, 0)); return this; }
    public Tensor Fill_(double v) { S(Native.ck_fill_(H, v, I(!DType.IsFloatingPoint()))); return this; }
    public Tensor Zero_() { S(Native.ck_zero_(H)); return this; }
    public Tensor Clamp_(double min, double max) { S(Native.ck_clamp_(H, min, max)); return this; }
    public Tensor Uniform_(double low = 0, double high = 1, Generator? g = null) { S(Native.ck_uniform_(H, low, high, Generator.HandleOf(g))); return this; }
    public Tensor Normal_(double mean = 0, double std = 1, Generator? g = null) { S(Native.ck_normal_(H, mean, std, Generator.HandleOf(g))); return this; }
    public Tensor ErfInv_() { S(Native.ck_erfinv_(H)); return this; }

    /// <summary>Exponential moving average in place: this ← μ·this + (1−μ)·<paramref name="source"/>.</summary>
    public Tensor Ema_(Tensor source, double mu) { S(Native.ck_lerp_ema_(H, source.H, mu)); return this; }

    // ---- reductions --------------------------------------------------------------------------------------
    private unsafe delegate TensorHandle DimsReduce(TensorHandle a, long* dims, int nd, int keepdim);

    private unsafe Tensor Reduce(DimsReduce f, long[] dims, bool keepDim, string op)
    {
        fixed (long* p = dims) return R(f(H, p, dims.Length, I(keepDim)), op);
    }

    /// <summary>Sum of all elements (0-dim result).</summary>
    public Tensor Sum() => R(Native.ck_sum_all(H));
    public Tensor Sum(long[] dims, bool keepDim = false) => Reduce(Native.ck_sum, dims, keepDim, nameof(Sum));
    public Tensor Sum(long dim, bool keepDim = false) => Sum([dim], keepDim);
    public Tensor Mean() => R(Native.ck_mean_all(H));
    public Tensor Mean(long[] dims, bool keepDim = false) => Reduce(Native.ck_mean, dims, keepDim, nameof(Mean));
    public Tensor Mean(long dim, bool keepDim = false) => Mean([dim], keepDim);
    public Tensor LogSumExp(long[] dims, bool keepDim = false) => Reduce(Native.ck_logsumexp, dims, keepDim, nameof(LogSumExp));
    public Tensor LogSumExp(long dim, bool keepDim = false) => LogSumExp([dim], keepDim);
    public Tensor Max() => R(Native.ck_max_all(H));
    public Tensor Min() => R(Native.ck_min_all(H));
    public Tensor All() => R(Native.ck_all_all(H));
    public Tensor Any() => R(Native.ck_any_all(H));

    /// <summary>Variance over <paramref name="dims"/>; <paramref name="unbiased"/> divides by N−1 (PyTorch default).</summary>
    public unsafe Tensor Var(long[] dims, bool unbiased = true, bool keepDim = false)
    {
        fixed (long* p = dims) return R(Native.ck_var(H, p, dims.Length, unbiased ? 1 : 0, I(keepDim)));
    }

    public Tensor Var(long dim, bool unbiased = true, bool keepDim = false) => Var([dim], unbiased, keepDim);

    public unsafe Tensor Std(long[] dims, bool unbiased = true, bool keepDim = false)
    {
        fixed (long* p = dims) return R(Native.ck_std(H, p, dims.Length, unbiased ? 1 : 0, I(keepDim)));
    }

    public Tensor Std(long dim, bool unbiased = true, bool keepDim = false) => Std([dim], unbiased, keepDim);

    /// <summary>p-norm over all elements (no dims) or over <paramref name="dims"/>.</summary>
    public unsafe Tensor Norm(double p = 2, long[]? dims = null, bool keepDim = false)
    {
        dims ??= [];
        fixed (long* d = dims) return R(Native.ck_norm(H, p, d, dims.Length, I(keepDim)));
    }

    private unsafe (Tensor Values, Tensor Indices) Pair(int status, IntPtr* outp, string op)
    {
        NativeCheck.Status(status, op);
        return (NativeCheck.Adopt(outp[0])!, NativeCheck.Adopt(outp[1])!);
    }

    /// <summary>Maximum along a dim with its indices.</summary>
    public unsafe (Tensor Values, Tensor Indices) Max(long dim, bool keepDim = false)
    {
        IntPtr* o = stackalloc IntPtr[2];
        return Pair(Native.ck_max_dim(H, dim, I(keepDim), o), o, nameof(Max));
    }

    public unsafe (Tensor Values, Tensor Indices) Min(long dim, bool keepDim = false)
    {
        IntPtr* o = stackalloc IntPtr[2];
        return Pair(Native.ck_min_dim(H, dim, I(keepDim), o), o, nameof(Min));
    }

    /// <summary>Index of the maximum (over the flattened tensor when <paramref name="dim"/> is null).</summary>
    public Tensor ArgMax(long? dim = null, bool keepDim = false) => R(Native.ck_argmax(H, dim ?? 0, I(dim.HasValue), I(keepDim)));
    public Tensor ArgMin(long? dim = null, bool keepDim = false) => R(Native.ck_argmin(H, dim ?? 0, I(dim.HasValue), I(keepDim)));
    public Tensor CumSum(long dim) => R(Native.ck_cumsum(H, dim));

    // ---- sorting -----------------------------------------------------------------------------------------
    public unsafe (Tensor Values, Tensor Indices) Sort(long dim = -1, bool descending = false, bool stable = false)
    {
        IntPtr* o = stackalloc IntPtr[2];
        return Pair(Native.ck_sort(H, dim, I(descending), I(stable), o), o, nameof(Sort));
    }

    public Tensor ArgSort(long dim = -1, bool descending = false) => R(Native.ck_argsort(H, dim, I(descending)));

    public unsafe (Tensor Values, Tensor Indices) TopK(long k, long dim = -1, bool largest = true, bool sorted = true)
    {
        IntPtr* o = stackalloc IntPtr[2];
        return Pair(Native.ck_topk(H, k, dim, I(largest), I(sorted), o), o, nameof(TopK));
    }
}
