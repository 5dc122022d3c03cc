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
}
