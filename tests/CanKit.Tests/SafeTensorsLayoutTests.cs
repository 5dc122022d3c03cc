using System.Buffers.Binary;
using System.Text;
using CanKit.IO;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The safetensors file layout byte by byte: header padding, the spec's and the reference implementation's bytes, the
/// official writer's tensor order, and a header checked whole before anything is allocated.
/// </summary>
public sealed class SafeTensorsLayoutTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abcdefg")]
    [InlineData("a_much_longer_tensor_name")]
    public void HeaderIsPaddedWithSpacesToEightBytes(string name)
    {
        using Tensor t = torch.tensor(new float[] { 1 });
        SafeTensors.Save(PathOf("p.safetensors"), new Dictionary<string, Tensor> { [name] = t });
        byte[] file = File.ReadAllBytes(PathOf("p.safetensors"));
        long n = BinaryPrimitives.ReadInt64LittleEndian(file);
        Assert.Equal(0, n % 8);
        string json = Encoding.UTF8.GetString(file, 8, (int)n);
        Assert.Matches(@"^\{.*\} *$", json);
        Assert.True(n - json.TrimEnd(' ').Length < 8);
        Assert.Equal(8 + n, SafeTensors.ReadHeader(PathOf("p.safetensors")).DataStart);
        Assert.Equal(8 + n + 4, file.Length);
    }

    // The layout the official writer produces for these inputs, written out byte by byte: __metadata__ first,
    // tensors by (element size desc, name), compact JSON padded with spaces to a multiple of 8.
    private static byte[] GoldenBytes()
    {
        const string json = """{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[],"data_offsets":[0,8]}""" +
                            ""","a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}""";
        Assert.Equal(137, json.Length);
        var expected = new List<byte> { 144, 0, 0, 0, 0, 0, 0, 0 }; // 137 + 7 spaces
        expected.AddRange(Encoding.ASCII.GetBytes(json + "       "));
        expected.AddRange(new byte[] { 7, 0, 0, 0, 0, 0, 0, 0 }); // b = 7 (int64 LE)
        expected.AddRange(new byte[] { 1, 2, 3 }); // a
        return expected.ToArray();
    }

    [Fact]
    public void SaveWritesTheSpecLayoutByteForByte()
    {
        using Tensor a = torch.tensor(new byte[] { 1, 2, 3 });
        using Tensor b = torch.tensor(7L);
        SafeTensors.Save(PathOf("g.safetensors"), new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b },
                         new Dictionary<string, string> { ["format"] = "pt" });
        Assert.Equal(GoldenBytes(), File.ReadAllBytes(PathOf("g.safetensors")));
    }

    // The same inputs as the serialisation tests of the reference implementation (safetensors/src/tensor.rs:
    // test_empty, test_serialization_forced_alignement), with the expected bytes spelled out.
    [Fact]
    public void SaveMatchesTheReferenceImplementationVectors()
    {
        SafeTensors.Save(PathOf("e.safetensors"), new Dictionary<string, Tensor>());
        Assert.Equal([8, 0, 0, 0, 0, 0, 0, 0, .. "{}      "u8], File.ReadAllBytes(PathOf("e.safetensors")));

        SafeTensors.Save(PathOf("m.safetensors"), new Dictionary<string, Tensor>(), new Dictionary<string, string> { ["framework"] = "pt" });
        Assert.Equal([40, 0, 0, 0, 0, 0, 0, 0, .. "{\"__metadata__\":{\"framework\":\"pt\"}}     "u8], File.ReadAllBytes(PathOf("m.safetensors")));

        using Tensor attn = torch.tensor(new float[] { 0, 1, 2, 3, 4, 5 }, [1, 1, 2, 3]);
        SafeTensors.Save(PathOf("a.safetensors"), new Dictionary<string, Tensor> { ["attn0"] = attn });
        byte[] expected =
        [
            72, 0, 0, 0, 0, 0, 0, 0,
            .. "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       "u8,
            0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ];
        Assert.Equal(expected, File.ReadAllBytes(PathOf("a.safetensors")));
    }

    [Fact]
    public void SaveOrdersTensorsAsTheOfficialWriterDoes()
    {
        using Tensor i64 = torch.tensor(new long[] { 1 });
        using Tensor f64 = torch.tensor(new double[] { 2 });
        using Tensor f32 = torch.tensor(new float[] { 3 });
        using Tensor f16 = torch.full([1], 4, ScalarType.Float16);
        using Tensor b = torch.tensor(new bool[] { true });
        var input = new Dictionary<string, Tensor> { ["a_bool"] = b, ["b_f16"] = f16, ["c_f32"] = f32, ["d_f64"] = f64, ["e_i64"] = i64, ["f_f32"] = f32 };
        SafeTensors.Save(PathOf("o.safetensors"), input);
        SafeTensorsHeader h = SafeTensors.ReadHeader(PathOf("o.safetensors"));
        Assert.Equal(new[] { "e_i64", "d_f64", "c_f32", "f_f32", "b_f16", "a_bool" }, h.Entries.Select(e => e.Name));
        Assert.Equal(new long[] { 0, 8, 16, 20, 24, 26 }, h.Entries.Select(e => e.Begin));
        Assert.Equal(h.BufferLength, h.Entries[^1].End); // no gaps, no trailing bytes
    }

    [Fact]
    public void LoadReadsTheSpecLayout()
    {
        File.WriteAllBytes(PathOf("g.safetensors"), GoldenBytes());
        SafeTensorsHeader h = SafeTensors.ReadHeader(PathOf("g.safetensors"));
        Assert.Equal(new[] { "b", "a" }, h.Entries.Select(e => e.Name));
        SafeTensorsEntry a = h.Entries[1];
        Assert.Equal((ScalarType.Byte, "U8", 8L, 11L, 3L), (a.DType, a.DTypeCode, a.Begin, a.End, a.NumEl));
        Assert.Equal(new long[] { 3 }, a.Shape);
        Assert.Empty(h.Entries[0].Shape);
        Assert.Equal((8 + 144L, 11L), (h.DataStart, h.BufferLength));
        using var ckpt = SafeTensors.Load(PathOf("g.safetensors"));
        Assert.Equal(new byte[] { 1, 2, 3 }, ckpt["a"].Host<byte>());
        Assert.Equal(0, ckpt["b"].Dimensions);
        Assert.Equal(ScalarType.Int64, ckpt["b"].dtype);
        Assert.Equal(7L, ckpt["b"].item<long>());
        Assert.Equal("pt", ckpt.Metadata["format"]);
    }

    [Fact]
    public void LoadValidatesTheWholeHeaderBeforeAllocating()
    {
        // The first tensor is valid, the second claims 2^40 elements with offsets past the file: nothing may be
        // allocated for either before the header is rejected.
        string json = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1099511627776],"data_offsets":[8,4398046511112]}}""";
        byte[] j = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + j.Length + 8];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)j.Length);
        j.CopyTo(file, 8);
        File.WriteAllBytes(PathOf("bomb.safetensors"), file);
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(PathOf("bomb.safetensors")));
        Assert.Contains("tensor 'b'", e.Message);
        Assert.Equal(0, scope.DisposablesCount);
    }
}
