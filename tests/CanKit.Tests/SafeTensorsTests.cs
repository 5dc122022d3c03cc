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
    private static Tensor RandomTensor(ScalarType dtype, long[] shape, int seed)
    {
        long n = 1;
        foreach (long d in shape) n *= d;
        var bytes = new byte[n * SafeTensorsDTypes.ElementSize(dtype)];
        new Random(seed).NextBytes(bytes);
        if (dtype == ScalarType.Bool)
            for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        var t = torch.empty(shape, dtype);
        if (n > 0) t.bytes = bytes;
        return t;
    }

    private static byte[] Bytes(Tensor t) => t.NumberOfElements == 0 ? [] : t.cpu().contiguous().bytes.ToArray();

    public static TheoryData<ScalarType> AllDTypes() => new(
        ScalarType.Float32, ScalarType.Float64, ScalarType.Float16, ScalarType.BFloat16, ScalarType.Int64, ScalarType.Int32,
        ScalarType.Int16, ScalarType.Int8, ScalarType.Byte, ScalarType.Bool);

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void RoundTripIsBitExact(ScalarType dtype)
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
                Assert.Equal(dtype, loaded[name].dtype);
                Assert.Equal(t.shape, loaded[name].shape);
                Assert.Equal(Bytes(t), Bytes(loaded[name]));
            }
        }
        finally
        {
            foreach (Tensor t in src.Values) t.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Devices.All), MemberType = typeof(Devices))]
    public void DeviceTensorsSaveAndLoadOntoTheDevice(string deviceName)
    {
        Device device = torch.device(deviceName);
        using Tensor cpu = torch.tensor(new float[] { 1.5f, -2, 3, 4, 5, 6 }, [2, 3]);
        using Tensor t = cpu.to(device);
        using Tensor strided = t.t();                                                  // [3, 2] view on the device
        SafeTensors.Save(PathOf("d.safetensors"), new Dictionary<string, Tensor> { ["t"] = t, ["s"] = strided });
        using var loaded = SafeTensors.Load(PathOf("d.safetensors"), device);
        Assert.Equal(device.type, loaded["t"].device.type);
        Assert.Equal(new float[] { 1.5f, -2, 3, 4, 5, 6 }, loaded["t"].Host<float>());
        Assert.Equal(new float[] { 1.5f, 4, -2, 5, 3, 6 }, loaded["s"].Host<float>());
    }

    [Fact]
    public void NonContiguousTensorIsWrittenRowMajor()
    {
        using Tensor a = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        using Tensor t = a.transpose(0, 1); // [3, 2], strided view
        SafeTensors.Save(PathOf("t.safetensors"), new Dictionary<string, Tensor> { ["t"] = t });
        using var loaded = SafeTensors.Load(PathOf("t.safetensors"));
        Assert.Equal(new long[] { 3, 2 }, loaded["t"].shape);
        Assert.Equal(new float[] { 1, 4, 2, 5, 3, 6 }, loaded["t"].Host<float>());
    }

    [Fact]
    public void TensorLargerThanOneChunkRoundTrips()
    {
        long n = SafeTensors.ChunkBytes / 4 * 2 + 4; // two full chunks and a partial one; a multiple of 3
        using Tensor flat = torch.arange(0, n, 1, ScalarType.Float32);
        using Tensor big = flat.view(n / 3, 3);
        using Tensor small = torch.tensor(new long[] { 42 });
        SafeTensors.Save(PathOf("big.safetensors"), new Dictionary<string, Tensor> { ["big"] = big, ["small"] = small });
        using var loaded = SafeTensors.Load(PathOf("big.safetensors"));
        Assert.Equal(big.shape, loaded["big"].shape);
        Assert.Equal(Bytes(big), Bytes(loaded["big"]));
        Assert.Equal(42L, loaded["small"].item<long>());
    }

    [Fact]
    public void MetadataAndUnusualNamesRoundTrip()
    {
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "quotes \" back\\slash\nnewline é ✓", ["empty"] = "" };
        using Tensor t = torch.tensor(new int[] { 1, 2 });
        SafeTensors.Save(PathOf("m.safetensors"), new Dictionary<string, Tensor> { ["enc.blocks.0/ẃ \"q\""] = t }, meta);
        using var loaded = SafeTensors.Load(PathOf("m.safetensors"));
        Assert.Equal(meta.OrderBy(kv => kv.Key), loaded.Metadata.OrderBy(kv => kv.Key));
        Assert.Equal(new[] { 1, 2 }, loaded["enc.blocks.0/ẃ \"q\""].Host<int>());
        Assert.Equal(meta.Count, SafeTensors.ReadHeader(PathOf("m.safetensors")).Metadata.Count);
    }

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
    public void SaveRejectsReservedAndEmptyNames()
    {
        using Tensor t = torch.tensor(new float[] { 1 });
        using Tensor c = torch.tensor(new float[] { 1 }).to(ScalarType.ComplexFloat32);
        Assert.Throws<ArgumentOutOfRangeException>(() => SafeTensors.Save(PathOf("x"), new Dictionary<string, Tensor> { ["c"] = c }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(PathOf("x"), new Dictionary<string, Tensor> { ["__metadata__"] = t }));
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(PathOf("x"), new Dictionary<string, Tensor> { [""] = t }));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    private string SaveOriginal()
    {
        string path = PathOf("model.safetensors");
        using Tensor w = torch.tensor(new float[] { 1, 2, 3 });
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = w });
        return path;
    }

    private void AssertOriginalIntactAndNoTempFiles(string path)
    {
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir));
        using var ckpt = SafeTensors.Load(path);
        Assert.Equal(new[] { "w" }, ckpt.Keys);
        Assert.Equal(new float[] { 1, 2, 3 }, ckpt["w"].Host<float>());
    }

    [Fact]
    public void FailedSaveWithADisposedTensorKeepsTheOldFile()
    {
        string path = SaveOriginal();
        using Tensor ok = torch.tensor(new float[] { 9 });
        Tensor gone = torch.tensor(new float[] { 8 });
        gone.Dispose();
        Assert.Throws<ObjectDisposedException>(() =>
            SafeTensors.Save(path, new Dictionary<string, Tensor> { ["ok"] = ok, ["gone"] = gone }));
        AssertOriginalIntactAndNoTempFiles(path);
    }

    [Fact]
    public void SaveFailingAfterSomeDataIsWrittenKeepsTheOldFile()
    {
        string path = SaveOriginal();
        using Tensor a = torch.tensor(new double[] { 1, 2 });
        using Tensor b = torch.tensor(new float[] { 3 });
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
        using Tensor a = torch.tensor(new float[] { 1 });
        using Tensor b = torch.tensor(new float[] { 2 });
        SafeTensors.Save(PathOf("c.safetensors"), new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        var ckpt = SafeTensors.Load(PathOf("c.safetensors"));
        Tensor kept = ckpt.Take("a");
        Tensor owned = ckpt["b"];
        Assert.False(ckpt.ContainsKey("a"));
        ckpt.Dispose();
        Assert.True(owned.IsInvalid);
        Assert.False(kept.IsInvalid);
        Assert.Equal(new float[] { 1 }, kept.Host<float>());
        kept.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ckpt["b"]);
    }

    // timm's ViT layout in miniature: names come from the registered fields, blocks from a ModuleList.
    private sealed class TinyAttention : nn.Module<Tensor, Tensor>
    {
        private readonly Linear qkv, proj;
        public TinyAttention(int d) : base("Attention")
        {
            qkv = nn.Linear(d, 3 * d);
            proj = nn.Linear(d, d);
            RegisterComponents();
        }
        public override Tensor forward(Tensor x) => proj.call(qkv.call(x).narrow(-1, 0, x.shape[^1]));
    }

    private sealed class TinyBlock : nn.Module<Tensor, Tensor>
    {
        private readonly LayerNorm norm1;
        private readonly TinyAttention attn;
        public TinyBlock(int d) : base("Block")
        {
            norm1 = nn.LayerNorm(d, 1e-6);
            attn = new TinyAttention(d);
            RegisterComponents();
        }
        public override Tensor forward(Tensor x) => x + attn.call(norm1.call(x));
    }

    private sealed class TinyVit : nn.Module<Tensor, Tensor>
    {
        private readonly Parameter pos_embed;
        private readonly ModuleList<TinyBlock> blocks;
        public TinyVit(int d, int depth) : base("VisionTransformer")
        {
            pos_embed = nn.Parameter(torch.zeros(1, 4, d));
            blocks = nn.ModuleList(Enumerable.Range(0, depth).Select(_ => new TinyBlock(d)).ToArray());
            RegisterComponents();
        }
        public override Tensor forward(Tensor x) => blocks.Aggregate(x + pos_embed, (h, b) => b.call(h));
    }

    [Fact]
    public void ModulesSaveUnderTheirRegisteredTimmNamesAndLoadBack()
    {
        torch.manual_seed(3);
        using var source = new TinyVit(8, 2);
        SafeTensors.Save(PathOf("vit.safetensors"), source, new Dictionary<string, string> { ["format"] = "pt" });
        SafeTensorsHeader h = SafeTensors.ReadHeader(PathOf("vit.safetensors"));
        Assert.Equal(
            new[] { "blocks.0.attn.proj.bias", "blocks.0.attn.proj.weight", "blocks.0.attn.qkv.bias", "blocks.0.attn.qkv.weight",
                    "blocks.0.norm1.bias", "blocks.0.norm1.weight", "blocks.1.attn.proj.bias", "blocks.1.attn.proj.weight",
                    "blocks.1.attn.qkv.bias", "blocks.1.attn.qkv.weight", "blocks.1.norm1.bias", "blocks.1.norm1.weight", "pos_embed" },
            h.Entries.Select(e => e.Name));
        Assert.Equal(new long[] { 24, 8 }, h.Entries.Single(e => e.Name == "blocks.1.attn.qkv.weight").Shape);

        using var target = new TinyVit(8, 2);
        SafeTensors.LoadInto(target, PathOf("vit.safetensors"));
        var want = source.state_dict();
        foreach (var (name, t) in target.state_dict()) Assert.Equal(Bytes(want[name]), Bytes(t));

        // A model of another shape or with other names is refused, naming the tensor.
        using var wider = new TinyVit(4, 2);
        string shapeError = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadInto(wider, PathOf("vit.safetensors"))).Message;
        Assert.Contains(PathOf("vit.safetensors"), shapeError);
        Assert.Matches(@"tensor '[a-z0-9_.]+' has shape \[[0-9, ]+\], the module expects \[[0-9, ]+\]", shapeError);
        using var deeper = new TinyVit(8, 3);
        var e = Assert.Throws<InvalidDataException>(() => SafeTensors.LoadInto(deeper, PathOf("vit.safetensors")));
        Assert.Contains("missing blocks.2.", e.Message);
        SafeTensors.LoadInto(deeper, PathOf("vit.safetensors"), strict: false);   // the first two blocks load
        Assert.Equal(Bytes(want["blocks.1.attn.qkv.weight"]), Bytes(deeper.state_dict()["blocks.1.attn.qkv.weight"]));
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
