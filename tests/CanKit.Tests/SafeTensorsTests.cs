using System.Buffers.Binary;
using System.Text;
using CanKit.IO;
using Xunit;

namespace CanKit.Tests;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    // Random bytes that are valid for the dtype (bool must be 0 or 1; any bit pattern is a valid float).
    private static Tensor RandomTensor(DType dtype, long[] shape, int seed)
    {
        long n = 1;
        foreach (long d in shape) n *= d;
        var bytes = new byte[n * dtype.ElementSize()];
        new Random(seed).NextBytes(bytes);
        if (dtype == DType.Bool)
            for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        return Tensor.FromBytes(bytes, dtype, shape);
    }

    public static TheoryData<DType> AllDTypes() => new(
        DType.Float32, DType.Float64, DType.Float16, DType.BFloat16, DType.Int64, DType.Int32, DType.Int16,
        DType.Int8, DType.UInt8, DType.Bool);

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void RoundTripIsBitExact(DType dtype)
    {
        var shapes = new Dictionary<string, long[]> { ["matrix"] = [2, 3], ["scalar"] = [], ["empty"] = [0, 4], ["vec"] = [5] };
        var src = shapes.ToDictionary(kv => kv.Key, kv => RandomTensor(dtype, kv.Value, kv.Key.Length));
        try
        {
            SafeTensors.Save(PathOf("rt.safetensors"), src);
            using SafeTensorsCheckpoint loaded = SafeTensors.Load(PathOf("rt.safetensors"));
            Assert.Equal(src.Keys.Order(), loaded.Keys.Order());
            foreach (var (name, t) in src)
            {
                Assert.Equal(dtype, loaded[name].DType);
                Assert.Equal(t.Shape, loaded[name].Shape);
                Assert.Equal(t.ToBytes(), loaded[name].ToBytes());
            }
        }
        finally
        {
            foreach (Tensor t in src.Values) t.Dispose();
        }
    }

    [Fact]
    public void NonContiguousTensorIsWrittenRowMajor()
    {
        using Tensor a = Tensor.From(new float[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        using Tensor t = a.Transpose(0, 1); // [3, 2], strided view
        SafeTensors.Save(PathOf("t.safetensors"), new Dictionary<string, Tensor> { ["t"] = t });
        using var loaded = SafeTensors.Load(PathOf("t.safetensors"));
        Assert.Equal(new long[] { 3, 2 }, loaded["t"].Shape);
        Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, loaded["t"].ToArray<float>());
    }

    [Fact]
    public void TensorLargerThanOneChunkRoundTrips()
    {
        long n = SafeTensors.ChunkBytes / 4 * 2 + 4; // two full chunks and a partial one; a multiple of 3
        using Tensor flat = Tensor.Arange(0, n, 1, DType.Float32);
        using Tensor big = flat.View(n / 3, 3);
        using Tensor small = Tensor.From(new long[] { 42 });
        SafeTensors.Save(PathOf("big.safetensors"), new Dictionary<string, Tensor> { ["big"] = big, ["small"] = small });
        using var loaded = SafeTensors.Load(PathOf("big.safetensors"));
        Assert.Equal(big.Shape, loaded["big"].Shape);
        Assert.Equal(big.ToBytes(), loaded["big"].ToBytes());
        Assert.Equal(42L, loaded["small"].Item<long>());
    }

    [Fact]
    public void MetadataAndUnusualNamesRoundTrip()
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quotes \" back\\slash\nnewline é ✓", ["empty"] = "" };
        using Tensor t = Tensor.From(new int[] { 1, 2 });
        SafeTensors.Save(PathOf("m.safetensors"), new Dictionary<string, Tensor> { ["enc.blocks.0/ẃ \"q\""] = t }, meta);
        using var loaded = SafeTensors.Load(PathOf("m.safetensors"));
        Assert.Equal(meta.OrderBy(kv => kv.Key), loaded.Metadata.OrderBy(kv => kv.Key));
        Assert.Equal(new[] { 1, 2 }, loaded["enc.blocks.0/ẃ \"q\""].ToArray<int>());
        Assert.Equal(meta.Count, SafeTensors.ReadHeader(PathOf("m.safetensors")).Metadata.Count);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abcdefg")]
    [InlineData("a_much_longer_tensor_name")]
    public void HeaderIsPaddedWithSpacesToEightBytes(string name)
    {
        using Tensor t = Tensor.From(new float[] { 1 });
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
        const string json = """{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}""";
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
        using Tensor a = Tensor.From(new byte[] { 1, 2, 3 });
        using Tensor b = Tensor.Scalar(7, DType.Int64);
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

        using Tensor attn = Tensor.From(new float[] { 0, 1, 2, 3, 4, 5 }, 1, 1, 2, 3);
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
        using Tensor i64 = Tensor.From(new long[] { 1 });
        using Tensor f64 = Tensor.From(new double[] { 2 });
        using Tensor f32 = Tensor.From(new float[] { 3 });
        using Tensor f16 = Tensor.Full([1], 4, DType.Float16);
        using Tensor b = Tensor.From(new bool[] { true });
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
        Assert.Equal((DType.UInt8, "U8", 8L, 11L, 3L), (a.DType, a.DTypeCode, a.Begin, a.End, a.NumEl));
        Assert.Equal(new long[] { 3 }, a.Shape);
        Assert.Empty(h.Entries[0].Shape);
        Assert.Equal((8 + 144L, 11L), (h.DataStart, h.BufferLength));
        using var ckpt = SafeTensors.Load(PathOf("g.safetensors"));
        Assert.Equal(new byte[] { 1, 2, 3 }, ckpt["a"].ToArray<byte>());
        Assert.Equal(0, ckpt["b"].Dim);
        Assert.Equal(7L, ckpt["b"].Item<long>());
        Assert.Equal("pt", ckpt.Metadata["format"]);
    }

    [Fact]
    public void SaveRejectsReservedAndEmptyNames()
    {
        using Tensor t = Tensor.From(new float[] { 1 });
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(PathOf("x"), new Dictionary<string, Tensor> { ["__metadata__"] = t }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(PathOf("x"), new Dictionary<string, Tensor> { [""] = t }));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    private string SaveOriginal()
    {
        string path = PathOf("model.safetensors");
        using Tensor w = Tensor.From(new float[] { 1, 2, 3 });
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = w });
        return path;
    }

    private void AssertOriginalIntactAndNoTempFiles(string path)
    {
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir));
        using var ckpt = SafeTensors.Load(path);
        Assert.Equal(new[] { "w" }, ckpt.Keys);
        Assert.Equal(new float[] { 1, 2, 3 }, ckpt["w"].ToArray<float>());
    }

    [Fact]
    public void FailedSaveWithADisposedTensorKeepsTheOldFile()
    {
        string path = SaveOriginal();
        using Tensor ok = Tensor.From(new float[] { 9 });
        Tensor gone = Tensor.From(new float[] { 8 });
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() =>
            SafeTensors.Save(path, new Dictionary<string, Tensor> { ["ok"] = ok, ["gone"] = gone }));
        AssertOriginalIntactAndNoTempFiles(path);
    }

    [Fact]
    public void SaveFailingAfterSomeDataIsWrittenKeepsTheOldFile()
    {
        string path = SaveOriginal();
        using Tensor a = Tensor.From(new double[] { 1, 2 });
        using Tensor b = Tensor.From(new float[] { 3 });
        bool tempSeen = false;
        var e = Assert.Throws<IOException>(() => SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b }, null,
            afterTensor: name =>
            {
                tempSeen = Directory.GetFiles(_dir, "*.tmp").Length == 1;
                throw new IOException($"disk full after {name}");
            }));
        Assert.Equal("disk full after a", e.Message);
        Assert.True(tempSeen, "the data should have gone to a temporary file beside the target");
        AssertOriginalIntactAndNoTempFiles(path);
    }

    [Fact]
    public void CheckpointDisposesItsTensorsButNotTakenOnes()
    {
        using Tensor a = Tensor.From(new float[] { 1 });
        using Tensor b = Tensor.From(new float[] { 2 });
        SafeTensors.Save(PathOf("c.safetensors"), new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        var ckpt = SafeTensors.Load(PathOf("c.safetensors"));
        Tensor kept = ckpt.Take("a");
        Tensor owned = ckpt["b"];
        Assert.False(ckpt.ContainsKey("a"));
        ckpt.Dispose();
        Assert.True(owned.IsDisposed);
        Assert.False(kept.IsDisposed);
        Assert.Equal(new float[] { 1 }, kept.ToArray<float>());
        kept.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ckpt["b"]);
    }
}
