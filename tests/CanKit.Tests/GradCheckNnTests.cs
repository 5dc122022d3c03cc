using CanKit.Nn;
using Xunit;
using static CanKit.Nn.Functional;

namespace CanKit.Tests;

/// <summary>Finite-difference gradient checks of the neural-network functions in <see cref="Functional"/>.</summary>
public class GradCheckNnTests
{
    private static readonly Dictionary<string, Action<Device, Rng>> Cases = new()
    {
        ["softmax"] = (d, r) => GradCheck.Assert(d, x => Softmax(x[0], 1), r.Normal(3, 5)),
        ["softmax_dim0"] = (d, r) => GradCheck.Assert(d, x => x[0].Softmax(0), r.Normal(3, 5)),
        ["log_softmax"] = (d, r) => GradCheck.Assert(d, x => LogSoftmax(x[0], -1), r.Normal(3, 5)),
        ["layer_norm_weight_bias"] = (d, r) => GradCheck.Assert(d, x => LayerNorm(x[0], [5], x[1], x[2]),
                                                                r.Normal(2, 3, 5), r.Normal(5), r.Normal(5)),
        ["layer_norm_two_dims"] = (d, r) => GradCheck.Assert(d, x => LayerNorm(x[0], [3, 4], x[1], x[2]),
                                                             r.Normal(2, 3, 4), r.Normal(3, 4), r.Normal(3, 4)),
        ["layer_norm_plain"] = (d, r) => GradCheck.Assert(d, x => LayerNorm(x[0], [4]), r.Normal(3, 4)),
        ["cross_entropy"] = (d, r) => WithTarget(d, t => GradCheck.Assert(d, x => CrossEntropy(x[0], t), r.Normal(4, 5))),
        ["cross_entropy_label_smoothing"] = (d, r) =>
            WithTarget(d, t => GradCheck.Assert(d, x => CrossEntropy(x[0], t, labelSmoothing: 0.2), r.Normal(4, 5))),
        ["cross_entropy_sum"] = (d, r) =>
            WithTarget(d, t => GradCheck.Assert(d, x => CrossEntropy(x[0], t, reduction: Functional.Reduction.Sum), r.Normal(4, 5))),
        ["cross_entropy_none_smoothing"] = (d, r) =>
            WithTarget(d, t => GradCheck.Assert(d, x => CrossEntropy(x[0], t, reduction: Functional.Reduction.None, labelSmoothing: 0.1), r.Normal(4, 5))),
        ["cross_entropy_class_weights"] = (d, r) =>
        {
            using var w = Tensor.From(new[] { 0.5, 1.0, 2.0, 1.5, 0.25 }).To(d);
            WithTarget(d, t => GradCheck.Assert(d, x => CrossEntropy(x[0], t, weight: w, labelSmoothing: 0.1), r.Normal(4, 5)));
        },
        ["mse_loss_mean"] = (d, r) => GradCheck.Assert(d, x => MseLoss(x[0], x[1]), r.Normal(3, 4), r.Normal(3, 4)),
        ["mse_loss_sum"] = (d, r) => GradCheck.Assert(d, x => MseLoss(x[0], x[1], Functional.Reduction.Sum), r.Normal(3, 4), r.Normal(3, 4)),
        ["mse_loss_none"] = (d, r) => GradCheck.Assert(d, x => MseLoss(x[0], x[1], Functional.Reduction.None), r.Normal(3, 4), r.Normal(3, 4)),
        ["normalize"] = (d, r) => GradCheck.Assert(d, x => Normalize(x[0]), r.Normal(3, 4)),
        ["normalize_dim_last_p1"] = (d, r) => GradCheck.Assert(d, x => Normalize(x[0], p: 1, dim: -1), r.AwayFromZero(0.1, 2, 3, 4)),
        ["conv2d"] = (d, r) => GradCheck.Assert(d, x => Conv2d(x[0], x[1], x[2]), r.Normal(2, 2, 5, 5), r.Normal(3, 2, 3, 3), r.Normal(3)),
        ["conv2d_stride_padding"] = (d, r) => GradCheck.Assert(d, x => Conv2d(x[0], x[1], x[2], stride: (2, 1), padding: (1, 2)),
                                                               r.Normal(1, 2, 5, 4), r.Normal(3, 2, 3, 2), r.Normal(3)),
        ["conv2d_dilation_groups"] = (d, r) => GradCheck.Assert(d, x => Conv2d(x[0], x[1], dilation: (2, 1), groups: 2),
                                                                r.Normal(1, 4, 6, 5), r.Normal(2, 2, 2, 3)),
        ["sdpa"] = (d, r) => GradCheck.Assert(d, x => ScaledDotProductAttention(x[0], x[1], x[2]),
                                              r.Normal(2, 3, 4), r.Normal(2, 5, 4), r.Normal(2, 5, 3)),
        ["sdpa_bool_mask"] = (d, r) =>
        {
            using var mask = Tensor.From(new[] { true, false, true, true, false, false, true, false, true, true, true, true, false, false, true }, 3, 5).To(d);
            GradCheck.Assert(d, x => ScaledDotProductAttention(x[0], x[1], x[2], mask),
                             r.Normal(2, 3, 4), r.Normal(2, 5, 4), r.Normal(2, 5, 3));
        },
        ["sdpa_float_mask"] = (d, r) =>
        {
            using var mask = r.Normal(3, 5).To(d);
            GradCheck.Assert(d, x => ScaledDotProductAttention(x[0], x[1], x[2], mask),
                             r.Normal(2, 3, 4), r.Normal(2, 5, 4), r.Normal(2, 5, 3));
        },
        ["sdpa_causal_heads"] = (d, r) => GradCheck.Assert(d, x => ScaledDotProductAttention(x[0], x[1], x[2], isCausal: true),
                                                           r.Normal(1, 2, 4, 3), r.Normal(1, 2, 4, 3), r.Normal(1, 2, 4, 2)),
        // The fused CPU kernel (float64 here) on CPU, the composed path elsewhere: qkv [N, L, 3·H·hd].
        ["self_attention"] = (d, r) => GradCheck.Assert(d, x => SelfAttention(x[0], 2), r.Normal(2, 4, 3 * 2 * 3)),
        ["self_attention_one_head_one_token"] = (d, r) => GradCheck.Assert(d, x => SelfAttention(x[0], 1), r.Normal(3, 1, 3 * 2)),
        ["dropout_eval_identity"] = (d, r) => GradCheck.Assert(d, x => Dropout(x[0], 0.5, training: false), r.Normal(3, 4)),
    };

    public static TheoryData<string, string> Data => Devices.Cross(Cases.Keys);

    [Theory]
    [MemberData(nameof(Data))]
    public void Gradient_matches_finite_differences(string device, string op)
    {
        using var scope = Torch.NewDisposeScope();
        Cases[op](Device.Parse(device), new Rng(5));
    }

    /// <summary>Class indices [4] for logits [4, 5].</summary>
    private static void WithTarget(Device d, Action<Tensor> check)
    {
        using var target = Tensor.From(new long[] { 2, 0, 4, 2 }).To(d);
        check(target);
    }
}
