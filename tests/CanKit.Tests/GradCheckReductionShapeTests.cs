using Xunit;
using Xunit.Sdk;

namespace CanKit.Tests;

/// <summary>Finite-difference gradient checks of reductions, sorting, views, joins and indexing.</summary>
public class GradCheckReductionShapeTests
{
    private static readonly Dictionary<string, Action<Device, Rng>> Cases = new()
    {
        // ---- reductions ----
        ["sum_all"] = (d, r) => GradCheck.Assert(d, x => x[0].Sum(), r.Normal(3, 4)),
        ["sum_dims_keepdim"] = (d, r) => GradCheck.Assert(d, x => x[0].Sum([0, 2], keepDim: true), r.Normal(2, 3, 4)),
        ["sum_dim"] = (d, r) => GradCheck.Assert(d, x => x[0].Sum(-1), r.Normal(2, 3, 4)),
        ["mean_all"] = (d, r) => GradCheck.Assert(d, x => x[0].Mean(), r.Normal(3, 4)),
        ["mean_dims_keepdim"] = (d, r) => GradCheck.Assert(d, x => x[0].Mean([1, 2], keepDim: true), r.Normal(2, 3, 4)),
        ["mean_dim"] = (d, r) => GradCheck.Assert(d, x => x[0].Mean(1), r.Normal(2, 3, 4)),
        ["max_dim"] = (d, r) => GradCheck.Assert(d, x => x[0].Max(1).Values, r.Distinct(3, 5)),
        ["max_dim_keepdim"] = (d, r) => GradCheck.Assert(d, x => x[0].Max(0, keepDim: true).Values, r.Distinct(3, 5)),
        ["min_dim"] = (d, r) => GradCheck.Assert(d, x => x[0].Min(-1).Values, r.Distinct(3, 5)),
        ["max_all"] = (d, r) => GradCheck.Assert(d, x => x[0].Max(), r.Distinct(3, 5)),
        ["min_all"] = (d, r) => GradCheck.Assert(d, x => x[0].Min(), r.Distinct(3, 5)),
        ["logsumexp"] = (d, r) => GradCheck.Assert(d, x => x[0].LogSumExp(1), r.Normal(3, 5)),
        ["logsumexp_dims_keepdim"] = (d, r) => GradCheck.Assert(d, x => x[0].LogSumExp([0, 2], keepDim: true), r.Normal(2, 3, 4)),
        ["var_unbiased"] = (d, r) => GradCheck.Assert(d, x => x[0].Var(1), r.Normal(3, 5)),
        ["var_biased_keepdim"] = (d, r) => GradCheck.Assert(d, x => x[0].Var([0, 1], unbiased: false, keepDim: true), r.Normal(3, 5)),
        ["std_unbiased"] = (d, r) => GradCheck.Assert(d, x => x[0].Std(0), r.Normal(4, 3)),
        ["std_biased"] = (d, r) => GradCheck.Assert(d, x => x[0].Std(-1, unbiased: false), r.Normal(4, 3)),
        ["norm_all"] = (d, r) => GradCheck.Assert(d, x => x[0].Norm(), r.Normal(3, 4)),
        ["norm_dim_keepdim"] = (d, r) => GradCheck.Assert(d, x => x[0].Norm(2, [1], keepDim: true), r.Normal(3, 4)),
        ["norm_p1"] = (d, r) => GradCheck.Assert(d, x => x[0].Norm(1, [0]), r.AwayFromZero(0.1, 3, 4)),
        ["norm_p3"] = (d, r) => GradCheck.Assert(d, x => x[0].Norm(3, [1]), r.AwayFromZero(0.1, 3, 4)),
        ["cumsum"] = (d, r) => GradCheck.Assert(d, x => x[0].CumSum(1), r.Normal(3, 4)),

        // ---- sorting ----
        ["sort_values"] = (d, r) => GradCheck.Assert(d, x => x[0].Sort(1).Values, r.Distinct(3, 5)),
        ["sort_descending_dim0"] = (d, r) => GradCheck.Assert(d, x => x[0].Sort(0, descending: true).Values, r.Distinct(3, 5)),
        ["topk_values"] = (d, r) => GradCheck.Assert(d, x => x[0].TopK(2).Values, r.Distinct(3, 5)),
        ["topk_smallest_dim0"] = (d, r) => GradCheck.Assert(d, x => x[0].TopK(2, dim: 0, largest: false).Values, r.Distinct(4, 3)),

        // ---- views and reshapes ----
        ["view"] = (d, r) => GradCheck.Assert(d, x => x[0].View(4, -1).Mul(x[1]), r.Normal(2, 6), r.Normal(4, 3)),
        ["reshape_noncontiguous"] = (d, r) => GradCheck.Assert(d, x => x[0].T().Reshape(12).Mul(x[1]), r.Normal(3, 4), r.Normal(12)),
        ["flatten"] = (d, r) => GradCheck.Assert(d, x => x[0].Flatten(1).Mul(x[1]), r.Normal(2, 3, 2), r.Normal(6)),
        ["permute"] = (d, r) => GradCheck.Assert(d, x => x[0].Permute(2, 0, 1).Mul(x[1]), r.Normal(2, 3, 4), r.Normal(4, 2, 3)),
        ["transpose"] = (d, r) => GradCheck.Assert(d, x => x[0].Transpose(0, 2).Mul(x[1]), r.Normal(2, 3, 4), r.Normal(4, 3, 2)),
        ["unsqueeze"] = (d, r) => GradCheck.Assert(d, x => x[0].Unsqueeze(1).Mul(x[1]), r.Normal(3, 4), r.Normal(3, 2, 4)),
        ["squeeze"] = (d, r) => GradCheck.Assert(d, x => x[0].Squeeze().Mul(x[1]), r.Normal(1, 3, 1), r.Normal(3)),
        ["squeeze_dim"] = (d, r) => GradCheck.Assert(d, x => x[0].Squeeze(2).Mul(x[1]), r.Normal(1, 3, 1), r.Normal(1, 3)),
        ["expand"] = (d, r) => GradCheck.Assert(d, x => x[0].Expand(3, 4).Mul(x[1]), r.Normal(1, 4), r.Normal(3, 4)),
        ["repeat"] = (d, r) => GradCheck.Assert(d, x => x[0].Repeat(2, 3).Mul(x[1]), r.Normal(2, 2), r.Normal(4, 6)),
        ["flip"] = (d, r) => GradCheck.Assert(d, x => x[0].Flip(0, 1).Mul(x[1]), r.Normal(3, 4), r.Normal(3, 4)),
        ["contiguous_clone"] = (d, r) => GradCheck.Assert(d, x => x[0].T().Contiguous().Clone().Mul(x[1]), r.Normal(3, 4), r.Normal(4, 3)),

        // ---- joins and slices ----
        ["cat"] = (d, r) => GradCheck.Assert(d, x => Tensor.Cat([x[0], x[1]], 1), r.Normal(2, 3), r.Normal(2, 2)),
        ["stack"] = (d, r) => GradCheck.Assert(d, x => Tensor.Stack([x[0], x[1], x[0]], -1), r.Normal(2, 3), r.Normal(2, 3)),
        ["unbind"] = (d, r) => GradCheck.Assert(d, x => { var u = x[0].Unbind(1); return u[0].Mul(u[2]).Add(u[1]); }, r.Normal(2, 3)),
        ["narrow"] = (d, r) => GradCheck.Assert(d, x => x[0].Narrow(1, 1, 2), r.Normal(3, 4)),
        ["select"] = (d, r) => GradCheck.Assert(d, x => x[0].Select(0, -1), r.Normal(3, 4)),
        ["slice_step"] = (d, r) => GradCheck.Assert(d, x => x[0].Slice(1, 0, 5, 2), r.Normal(3, 6)),

        // ---- indexing ----
        ["index_select_repeated"] = (d, r) =>
        {
            using var idx = Tensor.From(new long[] { 2, 0, 2, 1 }).To(d);
            GradCheck.Assert(d, x => x[0].IndexSelect(0, idx), r.Normal(3, 4));
        },
        ["gather"] = (d, r) =>
        {
            using var idx = Tensor.From(new long[] { 0, 3, 3, 1, 2, 0 }, 2, 3).To(d);
            GradCheck.Assert(d, x => x[0].Gather(1, idx), r.Normal(2, 4));
        },
        ["scatter_self_and_source"] = (d, r) =>
        {
            // Unique indices per row: with duplicates the written value (and the source gradient) is unspecified.
            using var idx = Tensor.From(new long[] { 3, 0, 1, 2, 0, 3 }, 2, 3).To(d);
            GradCheck.Assert(d, x => x[0].Scatter(1, idx, x[1]), r.Normal(2, 5), r.Normal(2, 3));
        },
        ["scatter_scalar"] = (d, r) =>
        {
            using var idx = Tensor.From(new long[] { 4, 1 }, 2, 1).To(d);
            GradCheck.Assert(d, x => x[0].Scatter(1, idx, 2.5), r.Normal(2, 5));
        },
    };

    public static TheoryData<string, string> Data => Devices.Cross(Cases.Keys);

    [Theory]
    [MemberData(nameof(Data))]
    public void Gradient_matches_finite_differences(string device, string op)
    {
        using var scope = Torch.NewDisposeScope();
        Cases[op](Device.Parse(device), new Rng(11));
    }

    [Fact]
    public void Checker_rejects_a_wrong_gradient()
    {
        // x·detach(x) has autograd gradient x but true derivative 2x: the checker must notice.
        using var scope = Torch.NewDisposeScope();
        Assert.Throws<XunitException>(() => GradCheck.Assert(Device.Cpu, x => x[0].Mul(x[0].Detach()), new Rng(3).Normal(2, 2)));
    }
}
