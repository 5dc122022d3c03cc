using System.Buffers.Binary;
using System.Text;
using CanKit.IO;
using Xunit;

namespace CanKit.Tests;

/// <summary>Malformed safetensors files: each must fail with an InvalidDataException naming the file and the problem.</summary>
public sealed class SafeTensorsMalformedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-st-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static byte[] Build(string json, int dataBytes, ulong? claimedLength = null)
    {
        byte[] j = Encoding.UTF8.GetBytes(json);
        var file = new byte[8 + j.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, claimedLength ?? (ulong)j.Length);
        j.CopyTo(file, 8);
        return file;
    }

    private const string F32x2 = """{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""";

    public static TheoryData<string, int, string> MalformedHeaders() => new()
    {
        { "{not json", 0, "not valid JSON" },
        { "[1, 2]", 0, "must be a JSON object" },
        { """{"w":[1]}""", 0, "tensor 'w': the entry must be a JSON object" },
        { """{"w":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}}""", 8, "tensor 'w': unknown dtype 'X9'" },
        { """{"w":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}""", 4, "dtype 'U16' is not supported" },
        { """{"w":{"dtype":3,"shape":[2],"data_offsets":[0,8]}}""", 8, "tensor 'w': 'dtype' must be a string" },
        { """{"w":{"shape":[2],"data_offsets":[0,8]}}""", 8, "tensor 'w': missing 'dtype'" },
        { """{"w":{"dtype":"F32","data_offsets":[0,8]}}""", 8, "tensor 'w': missing 'shape'" },
        { """{"w":{"dtype":"F32","shape":[2]}}""", 8, "tensor 'w': missing 'data_offsets'" },
        { """{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}""", 8, "'shape' must be an array" },
        { """{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "shape[0] = -2 is not a non-negative" },
        { """{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", 8, "shape[0] = 2.5" },
        { """{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8, "overflows" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", 8, "'data_offsets' must hold 2 integers" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, "end before they begin" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 8, "run past the end of the 8-byte data buffer" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}}""", 8, "data_offsets[1]" },
        { """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "span 8 bytes but shape [3] of F32 needs 12 bytes" },
        { "{\"w\":" + F32x2 + ",\"v\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
          8, "tensor 'v' data_offsets [4, 8] overlap tensor 'w' [0, 8]" },
        { "{\"w\":" + F32x2 + ",\"w\":" + F32x2 + "}", 8, "lists 'w' twice" },
        { """{"__metadata__":{"epoch":3}}""", 0, "__metadata__ value 'epoch' must be a string" },
        { """{"__metadata__":["a"]}""", 0, "__metadata__ must be a JSON object" },
    };

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public void MalformedHeaderIsRejectedWithItsReason(string json, int dataBytes, string reason)
    {
        string path = PathOf("bad.safetensors");
        File.WriteAllBytes(path, Build(json, dataBytes));
        AssertRejected(path, reason);
    }

    private static void AssertRejected(string path, string reason)
    {
        var e1 = Assert.Throws<InvalidDataException>(() => SafeTensors.ReadHeader(path));
        Assert.Contains(path, e1.Message);
        Assert.Contains(reason, e1.Message);
        var e2 = Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path));
        Assert.Equal(e1.Message, e2.Message);
    }

    [Fact]
    public void FileShorterThanTheLengthPrefixIsRejected()
    {
        File.WriteAllBytes(PathOf("short.safetensors"), [1, 2, 3, 4, 5]);
        AssertRejected(PathOf("short.safetensors"), "5 bytes long, too short for the 8-byte header length");
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        File.WriteAllBytes(PathOf("long.safetensors"), Build("{}", 0, claimedLength: 1000));
        AssertRejected(PathOf("long.safetensors"), "header length 1000 runs past the end of the file (2 bytes");
        File.WriteAllBytes(PathOf("huge.safetensors"), Build("{}", 0, claimedLength: ulong.MaxValue));
        AssertRejected(PathOf("huge.safetensors"), $"header length {ulong.MaxValue} runs past the end");
    }

    [Fact]
    public void HeaderLengthAboveTheBoundIsRejectedWithoutAllocatingIt()
    {
        string path = PathOf("sparse.safetensors");
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            fs.Write(Build("{}", 0, claimedLength: 150_000_000));
            fs.SetLength(200_000_000); // sparse on Linux: costs no disk
        }
        AssertRejected(path, "header length 150000000 exceeds the 100000000-byte limit");
    }

    [Fact]
    public void GapsBetweenTensorsAreAllowed()
    {
        File.WriteAllBytes(PathOf("gap.safetensors"), Build("""{"w":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}""", 12));
        using var ckpt = SafeTensors.Load(PathOf("gap.safetensors"));
        Assert.Equal(new[] { 0 }, ckpt["w"].Host<int>());
    }
}
