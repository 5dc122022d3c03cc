using Xunit;

namespace CanKit.Tests;

/// <summary>ToString prints what PyTorch 1.13–2.x prints for the same tensor (expected strings taken from torch).</summary>
public class FormatTests
{
    private static string Show(Tensor t)
    {
        using (t) return t.ToString();
    }

    [Fact]
    public void Small_float_tensor() =>
        Assert.Equal("tensor([1.0000, 2.5000])", Show(Tensor.From(new float[] { 1, 2.5f })));

    [Fact]
    public void Integral_floats_print_with_a_trailing_point() =>
        Assert.Equal("tensor([1., 2., 3.])", Show(Tensor.From(new float[] { 1, 2, 3 })));

    [Fact]
    public void Matrix_elements_share_one_width_and_rows_align() =>
        Assert.Equal("tensor([[ 1.0000, 10.5000],\n        [-3.0000,  4.0000]])",
                     Show(Tensor.From(new float[] { 1, 10.5f, -3, 4 }, 2, 2)));

    [Fact]
    public void Int_tensor() =>
        Assert.Equal("tensor([ 1, 20,  3])", Show(Tensor.From(new long[] { 1, 20, 3 })));

    [Fact]
    public void Non_default_dtypes_are_named() =>
        Assert.Equal("tensor([1.5000, 2.0000], dtype=torch.float64)", Show(Tensor.From(new[] { 1.5, 2.0 })));

    [Fact]
    public void Int32_and_bool() =>
        Assert.Equal("tensor([ True, False]) tensor([7, 8], dtype=torch.int32)",
                     Show(Tensor.From(new[] { true, false })) + " " + Show(Tensor.From(new[] { 7, 8 })));

    [Fact]
    public void Scalar_tensor() => Assert.Equal("tensor(2.5000)", Show(Tensor.Scalar(2.5)));

    [Fact]
    public void Small_and_large_magnitudes_switch_to_scientific() =>
        Assert.Equal("tensor([1.0000e-05, 2.0000e+00])", Show(Tensor.From(new float[] { 1e-5f, 2 })));

    [Fact]
    public void Long_rows_wrap_at_80_columns() =>
        Assert.Equal("tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n" +
                     "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n" +
                     "        28., 29.])",
                     Show(Tensor.Arange(0, 30, 1, DType.Float32)));

    [Fact]
    public void Summarised_2000_element_tensor() =>
        Assert.Equal("tensor([   0.,    1.,    2.,  ..., 1997., 1998., 1999.])", Show(Tensor.Arange(0, 2000, 1, DType.Float32)));

    [Fact]
    public void Summarised_matrix_cuts_rows_and_columns() =>
        Assert.Equal("tensor([[   0,    1,    2,  ...,   47,   48,   49],\n" +
                     "        [  50,   51,   52,  ...,   97,   98,   99],\n" +
                     "        [ 100,  101,  102,  ...,  147,  148,  149],\n" +
                     "        ...,\n" +
                     "        [1850, 1851, 1852,  ..., 1897, 1898, 1899],\n" +
                     "        [1900, 1901, 1902,  ..., 1947, 1948, 1949],\n" +
                     "        [1950, 1951, 1952,  ..., 1997, 1998, 1999]])",
                     Show(Tensor.Arange(2000).Reshape(40, 50)));

    [Fact]
    public void Three_dims_separate_blocks_with_a_blank_line() =>
        Assert.Equal("tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])",
                     Show(Tensor.Arange(8).Reshape(2, 2, 2)));

    [Fact]
    public void Empty_tensors_show_their_size() =>
        Assert.Equal("tensor([]) tensor([], size=(0, 4)) tensor([], dtype=torch.int64)",
                     Show(Tensor.Zeros([0])) + " " + Show(Tensor.Zeros([0, 4])) + " " + Show(Tensor.Zeros([0], DType.Int64)));

    [Fact]
    public void Requires_grad_is_shown() =>
        Assert.Equal("tensor([1., 1.], requires_grad=True)", Show(Tensor.Ones([2]).RequiresGrad_()));

    [Fact]
    public void Nan_and_inf() =>
        Assert.Equal("tensor([nan, inf, 1.])", Show(Tensor.From(new[] { float.NaN, float.PositiveInfinity, 1f })));
}
