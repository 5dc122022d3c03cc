using Xunit;

namespace CanKit.Tests;

/// <summary>Hand-computed values of sorting, indexing, joins, products and reductions.</summary>
public class OpValueTests
{
    public static TheoryData<string> AllDevices => Devices.All();

    private static Tensor F(string device, double[] v, params long[] shape) => Tensor.From(v, shape).To(Device.Parse(device));
    private static Tensor L(string device, long[] v, params long[] shape) => Tensor.From(v, shape).To(Device.Parse(device));
    private static long[] Longs(Tensor t) => t.Cpu().ToArray<long>();
    private static double[] Doubles(Tensor t) => t.Cpu().ToArray<double>();

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Sort_ArgSort_and_TopK(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var x = F(device, [3, 1, 4, 1.5, 5, 9, 2, 6], 2, 4);
        var (values, indices) = x.Sort();
        Assert.Equal(new double[] { 1, 1.5, 3, 4, 2, 5, 6, 9 }, Doubles(values));
        Assert.Equal(new long[] { 1, 3, 0, 2, 2, 0, 3, 1 }, Longs(indices));
        Assert.Equal(new long[] { 2, 0, 3, 1, 1, 3, 0, 2 }, Longs(x.ArgSort(descending: true)));
        var (down, downIdx) = x.Sort(0, descending: true);
        Assert.Equal(new double[] { 5, 9, 4, 6, 3, 1, 2, 1.5 }, Doubles(down));
        Assert.Equal(new long[] { 1, 1, 0, 1, 0, 0, 1, 0 }, Longs(downIdx));

        var (top, topIdx) = x.TopK(2);
        Assert.Equal(new double[] { 4, 3, 9, 6 }, Doubles(top));
        Assert.Equal(new long[] { 2, 0, 1, 3 }, Longs(topIdx));
        var (low, lowIdx) = x.TopK(1, dim: 1, largest: false);
        Assert.Equal(new long[] { 2, 1 }, low.Shape);
        Assert.Equal(new double[] { 1, 2 }, Doubles(low));
        Assert.Equal(new long[] { 1, 2 }, Longs(lowIdx));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Stable_sort_keeps_ties_in_input_order(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var x = F(device, [2, 1, 2, 1, 2, 1, 0, 2, 1, 0]);
        Assert.Equal(new long[] { 6, 9, 1, 3, 5, 8, 0, 2, 4, 7 }, Longs(x.Sort(stable: true).Indices));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Gather_Scatter_and_IndexSelect(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var x = F(device, [10, 11, 12, 13, 20, 21, 22, 23], 2, 4);
        // out[i][j] = x[i][idx[i][j]]
        Assert.Equal(new double[] { 13, 10, 10, 22, 21, 23 }, Doubles(x.Gather(1, L(device, [3, 0, 0, 2, 1, 3], 2, 3))));
        // out[idx[i][j]][j] = x[i][j] along dim 0
        Assert.Equal(new double[] { 20, 11, 12, 23, 10, 21, 22, 13 }, Doubles(x.Gather(0, L(device, [1, 0, 0, 1, 0, 1, 1, 0], 2, 4))));

        var zeros = F(device, new double[8], 2, 4);
        var src = F(device, [1, 2, 3, 4, 5, 6], 2, 3);
        // out[i][idx[i][j]] = src[i][j]
        Assert.Equal(new double[] { 2, 0, 3, 1, 0, 4, 6, 5 }, Doubles(zeros.Scatter(1, L(device, [3, 0, 2, 1, 3, 2], 2, 3), src)));
        Assert.Equal(new double[] { 10, -1, 12, 13, 20, 21, 22, -1 }, Doubles(x.Scatter(1, L(device, [1, 3], 2, 1), -1)));
        Assert.Equal(new double[] { 20, 21, 22, 23, 10, 11, 12, 13, 20, 21, 22, 23 }, Doubles(x.IndexSelect(0, L(device, [1, 0, 1]))));
        Assert.Equal(new double[] { 13, 11, 23, 21 }, Doubles(x.IndexSelect(1, L(device, [3, 1]))));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void MaskedFill_Where_and_comparisons(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var x = F(device, [1, -2, 3, -4]);
        var negative = x < 0.0;
        Assert.Equal(DType.Bool, negative.DType);
        Assert.Equal(new[] { false, true, false, true }, negative.Cpu().ToArray<bool>());
        Assert.Equal(new double[] { 1, 0, 3, 0 }, Doubles(x.MaskedFill(negative, 0)));
        Assert.Equal(new double[] { 1, 2, 3, 4 }, Doubles(Tensor.Where(negative, -x, x)));
        Assert.Equal(new double[] { 1, -2, 3, -4 }, Doubles(x.Maximum(F(device, [0, -3, 5, -4]).Minimum(x))));
        Assert.Equal(new[] { true, false, true, true }, x.Eq(F(device, [1, 2, 3, -4])).LogicalOr(x.Eq(1.0)).Cpu().ToArray<bool>());
        var ints = L(device, [5, 7, 9]);
        Assert.Equal(new long[] { 5, -1, 9 }, Longs(ints.MaskedFill(ints.Eq(7.0), -1)));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Joins_slices_and_views(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var a = F(device, [1, 2, 3, 4, 5, 6], 2, 3);
        var b = F(device, [7, 8], 2, 1);
        Assert.Equal(new double[] { 1, 2, 3, 7, 4, 5, 6, 8 }, Doubles(Tensor.Cat([a, b], 1)));
        var s = Tensor.Stack([a, a * 10.0], 1);
        Assert.Equal(new long[] { 2, 2, 3 }, s.Shape);
        Assert.Equal(new double[] { 1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60 }, Doubles(s));
        Assert.Equal(new double[] { 1, 4, 2, 5, 3, 6 }, Doubles(a.T().Contiguous()));
        Assert.Equal(new long[] { 1, 3 }, a.T().Strides);
        Assert.False(a.T().IsContiguous);
        Assert.Equal(new double[] { 2, 3, 5, 6 }, Doubles(a.Narrow(1, 1, 2)));
        Assert.Equal(new double[] { 4, 5, 6 }, Doubles(a.Select(0, 1)));
        Assert.Equal(new double[] { 1, 3, 4, 6 }, Doubles(a.Slice(1, 0, 3, 2)));
        Assert.Equal(new double[] { 6, 5, 4, 3, 2, 1 }, Doubles(a.Flip(0, 1)));
        Assert.Equal(new double[] { 1, 2, 1, 2, 4, 5, 4, 5 }, Doubles(a.Narrow(1, 0, 2).Repeat(1, 2)));
        Assert.Equal(new double[] { 7, 7, 8, 8 }, Doubles(b.Expand(2, 2)));
        Assert.Equal(new long[] { 3, 2 }, a.View(3, -1).Shape);
        Assert.Equal(new long[] { 1, 2, 1, 3 }, a.Unsqueeze(0).Unsqueeze(2).Shape);
        Assert.Equal(new long[] { 2, 3 }, a.Unsqueeze(0).Unsqueeze(2).Squeeze().Shape);
        Assert.Equal(new long[] { 3, 1, 2 }, a.Unsqueeze(1).Permute(2, 1, 0).Shape);
        var parts = a.Unbind(1);
        Assert.Equal(3, parts.Length);
        Assert.Equal(new double[] { 2, 5 }, Doubles(parts[1]));
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Products_and_reductions(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var a = F(device, [1, 2, 3, 4, 5, 6], 2, 3);
        var b = F(device, [1, 0, -1, 2, 0.5, 1], 3, 2);
        Assert.Equal(new double[] { 0.5, 7, 2, 16 }, Doubles(a.MatMul(b)));
        Assert.Equal(new double[] { 0.5, 7, 2, 16 }, Doubles(a.Mm(b)));
        Assert.Equal(new double[] { 1, 8, 2.5, 17 }, Doubles(Tensor.AddMm(F(device, [1, 2], 2), a, b, beta: 0.5, alpha: 1)));
        Assert.Equal(21, a.Sum().Item<double>());
        Assert.Equal(new double[] { 5, 7, 9 }, Doubles(a.Sum(0)));
        Assert.Equal(new double[] { 2, 5 }, Doubles(a.Mean(1)));
        Assert.Equal(new long[] { 2, 1 }, a.Mean(1, keepDim: true).Shape);
        var (mx, arg) = a.Max(1);
        Assert.Equal(new double[] { 3, 6 }, Doubles(mx));
        Assert.Equal(new long[] { 2, 2 }, Longs(arg));
        Assert.Equal(new long[] { 0, 0, 0 }, Longs(a.Min(0).Indices));
        Assert.Equal(5, a.ArgMax().Item<long>());
        Assert.Equal(new long[] { 0, 0 }, Longs(a.ArgMin(1)));
        Assert.Equal(new double[] { 1, 3, 6, 4, 9, 15 }, Doubles(a.CumSum(1)));
        Assert.Equal(Math.Sqrt(91), a.Norm().Item<double>(), 12);
        Assert.Equal(new double[] { 6, 15 }, Doubles(a.Norm(1, [1])));
        Assert.True(a.Gt(0.0).All().Item<bool>());
        Assert.False(a.Gt(5.0).All().Item<bool>());
        Assert.True(a.Gt(5.0).Any().Item<bool>());
    }
}
