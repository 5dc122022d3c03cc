using Xunit;

namespace CanKit.Tests;

/// <summary>Creation ops, dtype conversions, element read-back and PyTorch's scalar type-promotion rules.</summary>
public class CreationAndDTypeTests
{
    public static TheoryData<string> AllDevices => Devices.All();

    private static readonly DType[] EightDTypes =
        [DType.Float32, DType.Float64, DType.Float16, DType.BFloat16, DType.Int64, DType.Int32, DType.UInt8, DType.Bool];

    public static TheoryData<string, DType> DevicesAndDTypes()
    {
        var data = new TheoryData<string, DType>();
        foreach (var d in Torch.AvailableDevices())
            foreach (var t in EightDTypes) data.Add(d.ToString(), t);
        return data;
    }

    private static double[] Doubles(Tensor t)
    {
        using var host = t.To(Device.Cpu, DType.Float64);
        return host.ToArray<double>();
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Arange_Linspace_Full_Zeros_Ones(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var d = Device.Parse(device);
        var r = Tensor.Arange(5, device: d);
        Assert.Equal(DType.Int64, r.DType);
        Assert.Equal(d, r.Device);
        Assert.Equal(new long[] { 0, 1, 2, 3, 4 }, r.Cpu().ToArray<long>());
        Assert.Equal(new float[] { 0, 0.25f, 0.5f, 0.75f }, Tensor.Arange(0, 1, 0.25, DType.Float32, d).Cpu().ToArray<float>());
        Assert.Equal(new double[] { 3, 1, -1 }, Tensor.Arange(3, -2, -2, DType.Float64, d).Cpu().ToArray<double>());
        Approx.Equal([-1, -0.5, 0, 0.5, 1], Tensor.Linspace(-1, 1, 5, DType.Float64, d));
        Approx.Equal(Enumerable.Range(0, 7).Select(i => i / 6.0).ToArray(), Tensor.Linspace(0, 1, 7, device: d), Approx.F32);

        var full = Tensor.Full([2, 3], 7.5, device: d);
        Assert.Equal(new long[] { 2, 3 }, full.Shape);
        Assert.Equal(Enumerable.Repeat(7.5f, 6), full.Cpu().ToArray<float>());
        Assert.Equal(new long[] { -3, -3 }, Tensor.Full([2], -3, DType.Int64, d).Cpu().ToArray<long>());
        Assert.Equal(new double[6], Tensor.Zeros([3, 2], DType.Float64, d).Cpu().ToArray<double>());
        Assert.Equal(Enumerable.Repeat(1, 4), Tensor.Ones([4], DType.Int32, d).Cpu().ToArray<int>());
        Assert.Equal(new long[] { 0, 4 }, Tensor.Empty([0, 4], device: d).Shape);

        var scalar = Tensor.Scalar(2.5, DType.Float64, d);
        Assert.Equal(0, scalar.Dim);
        Assert.Equal(1, scalar.NumEl);
        Assert.Equal(2.5, scalar.Item<double>());
    }

    [Fact]
    public void Identity_matrix_from_arange_and_eq()
    {
        using var scope = Torch.NewDisposeScope();
        var i = Tensor.Arange(3);
        var eye = i.Unsqueeze(1).Eq(i).To(DType.Float32);
        Assert.Equal(new float[] { 1, 0, 0, 0, 1, 0, 0, 0, 1 }, eye.ToArray<float>());
    }

    [Fact]
    public void From_copies_data_and_checks_the_shape()
    {
        using var scope = Torch.NewDisposeScope();
        var data = new[] { 1, 2, 3, 4, 5, 6 };
        var t = Tensor.From(data, 2, 3);
        data[0] = 100;
        Assert.Equal(DType.Int32, t.DType);
        Assert.Equal(new[] { 1, 2, 3, 4, 5, 6 }, t.ToArray<int>());
        Assert.Throws<ArgumentException>(() => Tensor.From(new float[5], 2, 3));
        Assert.Throws<InvalidOperationException>(() => t.ToArray<long>());
    }

    [Theory]
    [MemberData(nameof(DevicesAndDTypes))]
    public void Conversion_round_trips_through_every_dtype(string device, DType dtype)
    {
        using var scope = Torch.NewDisposeScope();
        double[] values = [0, 1, 2, 3, 100, 255];
        var source = Tensor.From(values).To(Device.Parse(device));
        var converted = source.To(dtype);
        Assert.Equal(dtype, converted.DType);
        Assert.Equal(Device.Parse(device), converted.Device);
        Assert.Equal(values.Length * dtype.ElementSize(), converted.ToBytes().Length);
        double[] expected = dtype == DType.Bool ? values.Select(v => v != 0 ? 1.0 : 0.0).ToArray() : values;
        Assert.Equal(expected, Doubles(converted));
    }

    [Fact]
    public void Conversions_round_and_saturate_like_pytorch()
    {
        using var scope = Torch.NewDisposeScope();
        var x = Tensor.From(new[] { -1.75, -0.5, 0.0, 0.3, 2.9 });
        Assert.Equal(new long[] { -1, 0, 0, 0, 2 }, x.To(DType.Int64).ToArray<long>()); // truncation toward zero
        Assert.Equal(new[] { true, true, false, true, true }, x.To(DType.Bool).ToArray<bool>());
        // bfloat16 keeps 8 significant bits: 1 + 2^-8 rounds to 1; float16 keeps 11 and holds it.
        var fine = Tensor.From(new[] { 1 + 1.0 / 256 });
        Assert.Equal(1.0, Doubles(fine.To(DType.BFloat16))[0]);
        Assert.Equal(1 + 1.0 / 256, Doubles(fine.To(DType.Float16))[0]);
        // bfloat16 1.0 is 0x3F80, little-endian.
        Assert.Equal(new byte[] { 0x80, 0x3F }, Tensor.Ones([1], DType.BFloat16).ToBytes());
    }

    [Fact]
    public void Item_reads_every_element_type()
    {
        using var scope = Torch.NewDisposeScope();
        Assert.Equal(1.5f, Tensor.Scalar(1.5).Item<float>());
        Assert.Equal(1.5, Tensor.Scalar(1.5).Item<double>());
        Assert.Equal((Half)0.25, Tensor.Scalar(0.25, DType.Float16).Item<Half>());
        Assert.Equal(0.25, Tensor.Scalar(0.25, DType.BFloat16).Item<double>());
        Assert.Equal(-7L, Tensor.Scalar(-7, DType.Int64).Item<long>());
        Assert.Equal(-7, Tensor.Scalar(-7, DType.Int32).Item<int>());
        Assert.Equal((byte)200, Tensor.Scalar(200, DType.UInt8).Item<byte>());
        Assert.True(Tensor.Scalar(1, DType.Bool).Item<bool>());
        Assert.Equal(3L, Tensor.From(new long[] { 3 }, 1, 1).Item<long>());
        var ex = Assert.Throws<TorchException>(() => Tensor.Zeros([2]).Item<float>());
        Assert.Equal("Item", ex.Operation);
    }

    [Theory]
    [MemberData(nameof(AllDevices))]
    public void Integer_scalars_keep_integer_tensors_integer(string device)
    {
        using var scope = Torch.NewDisposeScope();
        var d = Device.Parse(device);
        var i64 = Tensor.From(new long[] { 1, 2, 3 }).To(d);

        var twice = i64 * 2L;
        Assert.Equal(DType.Int64, twice.DType);
        Assert.Equal(new long[] { 2, 4, 6 }, twice.Cpu().ToArray<long>());
        Assert.Equal(DType.Int64, (i64 + 1L).DType);
        Assert.Equal(DType.Int64, (i64 - 1L).DType);
        Assert.Equal(DType.Int64, (i64 + i64).DType);

        // A float scalar promotes an integer tensor to the default float dtype (float32), not float64.
        var half = i64 * 2.0;
        Assert.Equal(DType.Float32, half.DType);
        Assert.Equal(new float[] { 2, 4, 6 }, half.Cpu().ToArray<float>());
        Assert.Equal(new float[] { 0.5f, 1, 1.5f }, (i64 / 2.0).Cpu().ToArray<float>());

        // A scalar never widens a tensor of the same kind: int32 stays int32, float64 stays float64.
        Assert.Equal(DType.Int32, (Tensor.From(new[] { 1, 2 }).To(d) * 3L).DType);
        Assert.Equal(DType.UInt8, (Tensor.From(new byte[] { 1, 2 }).To(d) + 1L).DType);
        Assert.Equal(DType.Float64, (Tensor.From(new[] { 1.0 }).To(d) * 2.5).DType);
        Assert.Equal(DType.Float16, (Tensor.Ones([2], DType.Float16, d) * 2L).DType);
        // Two tensors promote: int64 with float32 gives float32.
        Assert.Equal(DType.Float32, (i64 + Tensor.Ones([3], device: d)).DType);
    }
}
