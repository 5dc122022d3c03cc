using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

/// <summary>JPEG/PNG codecs (SkiaSharp) against pixels and files written here.</summary>
public sealed class CodecTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-codec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A smooth colour pattern (JPEG-friendly) with a few exact edge values (0, 255) in every channel.
    internal static byte[] Pattern(int c, int h, int w, int seed = 0)
    {
        var px = new byte[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    px[(ch * h + y) * w + x] = (byte)Math.Clamp(128 + 100 * Math.Sin((x + 2 * y) / 7.0 + ch + seed) +
                                                                (x == 0 ? 200 : 0) - (y == 0 ? 200 : 0), 0, 255);
        return px;
    }

    [Theory]
    [InlineData(1, 5, 7)]
    [InlineData(3, 16, 9)]
    [InlineData(3, 1, 1)]
    public void PngRoundTripIsExact(int c, int h, int w)
    {
        Assert.True(ImageCodec.HasPng && ImageCodec.HasJpeg, "SkiaSharp's native library did not load");
        var px = Pattern(c, h, w);
        using var img = torch.tensor(px, [c, h, w]);
        string path = Path.Combine(_dir, "x.png");
        ImageCodec.SavePng(path, img);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(path)[..4]);
        using var back = ImageCodec.DecodeFile(path);
        Assert.Equal(new long[] { c, h, w }, back.shape);
        Assert.Equal(ScalarType.Byte, back.dtype);
        Assert.Equal(px, back.Host<byte>());
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void JpegDecodesCloseToTheEncodedPixels(int c)
    {
        var px = Pattern(c, 24, 32);
        using var img = torch.tensor(px, [c, 24, 32]);
        byte[] jpeg = ImageCodec.EncodeJpeg(img, quality: 98);
        Assert.Equal([0xFF, 0xD8, 0xFF], jpeg[..3]);
        using var back = ImageCodec.Decode(jpeg, "x.jpg");
        Assert.Equal(new long[] { c, 24, 32 }, back.shape);
        var got = back.Host<byte>();
        double mae = px.Zip(got, (a, b) => Math.Abs(a - b)).Average();
        int max = px.Zip(got, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(mae < 1.5, $"mean abs error {mae}");
        Assert.True(max <= 24, $"max abs error {max}");
    }

    [Fact]
    public void PngAlphaIsDroppedNotComposited()
    {
        // A 2×1 RGBA PNG (written byte by byte: signature, IHDR, IDAT with zlib-stored rows, IEND).
        byte[] rgba = [0, 10, 200, 30, 0, 255, 0, 128];
        byte[] png = TinyPng(2, 1, colourType: 6, row: rgba);
        using var img = ImageCodec.Decode(png, "alpha.png");
        Assert.Equal(new long[] { 3, 1, 2 }, img.shape);
        Assert.Equal(new byte[] { 0, 0, 10, 255, 200, 0 }, img.Host<byte>());  // [C, H, W]: R row, G row, B row
    }

    [Fact]
    public void CorruptTruncatedAndEmptyFilesNameTheFile()
    {
        using var img = torch.tensor(Pattern(3, 64, 64), [3, 64, 64]);
        byte[] png = ImageCodec.EncodePng(img);
        byte[] jpeg = ImageCodec.EncodeJpeg(img);
        var cases = new (string Name, byte[] Bytes, string Expect)[]
        {
            ("garbage.jpg", "not an image at all"u8.ToArray(), "not a JPEG or PNG"),
            ("empty.png", [], "empty file (0 bytes)"),
            ("empty.jpg", [], "empty file (0 bytes)"),
            ("truncated.png", png[..(png.Length / 2)], "truncated PNG"),
            ("truncated.jpg", jpeg[..(jpeg.Length / 2)], "truncated JPEG"),
            ("signature-only.png", png[..8], "corrupt PNG header"),
            ("badheader.jpg", [0xFF, 0xD8, 0xFF, 0, 1, 2, 3, 4, 5], "corrupt JPEG header"),
        };
        foreach (var (name, bytes, expect) in cases)
        {
            string path = Path.Combine(_dir, name);
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<InvalidDataException>(() => ImageCodec.DecodeFile(path));
            Assert.Contains(path, e.Message);
            Assert.Contains(expect, e.Message);
        }
        Assert.Throws<FileNotFoundException>(() => ImageCodec.DecodeFile(Path.Combine(_dir, "missing.png")));
    }

    // A real JPEG whose frame header (SOF) is rewritten to declare width × height: a few hundred bytes that
    // would need gigabytes if decoded.
    private static byte[] JpegDeclaring(int width, int height)
    {
        using var img = torch.tensor(Pattern(3, 16, 16), [3, 16, 16]);
        byte[] jpeg = ImageCodec.EncodeJpeg(img);
        for (int i = 2; i + 9 < jpeg.Length; )
        {
            Assert.Equal(0xFF, jpeg[i]);
            byte marker = jpeg[i + 1];
            int length = jpeg[i + 2] << 8 | jpeg[i + 3];
            if (marker is 0xC0 or 0xC1 or 0xC2)   // SOF0/1/2: length, precision, height, width
            {
                jpeg[i + 5] = (byte)(height >> 8); jpeg[i + 6] = (byte)height;
                jpeg[i + 7] = (byte)(width >> 8); jpeg[i + 8] = (byte)width;
                return jpeg;
            }
            i += 2 + length;
        }
        throw new InvalidOperationException("no SOF marker in the encoded JPEG");
    }

    [Fact]
    public void HugeDeclaredDimensionsAreRefusedBeforeDecoding()
    {
        byte[] bomb = JpegDeclaring(16000, 16000);
        Assert.InRange(bomb.Length, 100, 2000);
        string jpgPath = Path.Combine(_dir, "bomb.jpg");
        File.WriteAllBytes(jpgPath, bomb);
        // A PNG whose IHDR declares 20000 × 20000 RGB (1.6 GB decoded as RGBA) with a one-row IDAT.
        string pngPath = Path.Combine(_dir, "bomb.png");
        File.WriteAllBytes(pngPath, TinyPng(20000, 20000, colourType: 2, row: new byte[3 * 20000], rows: 1));

        foreach (var (path, dims) in new[] { (jpgPath, "16000×16000"), (pngPath, "20000×20000") })
        {
            long managedBefore = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<InvalidDataException>(() => ImageCodec.DecodeFile(path));
            long managed = GC.GetAllocatedBytesForCurrentThread() - managedBefore;
            Assert.Contains(path, e.Message);
            Assert.Contains(dims, e.Message);
            Assert.Contains($"over the {ImageCodec.DefaultMaxPixels}-pixel limit", e.Message);
            // The decoded image would be ≥ 1 GB (RGBA); reading the header costs the file and a few small objects.
            Assert.True(managed < 4 << 20, $"{managed} managed bytes allocated while refusing {path}");
        }

        // The limit is the caller's to lower: a 64×64 image (4096 pixels) against 4095.
        using var img = torch.tensor(Pattern(1, 64, 64), [1, 64, 64]);
        byte[] png = ImageCodec.EncodePng(img);
        Assert.Contains("4096 pixels", Assert.Throws<InvalidDataException>(() => ImageCodec.Decode(png, "small.png", maxPixels: 4095)).Message);
        using (var ok = ImageCodec.Decode(png, "small.png", maxPixels: 4096)) Assert.Equal(new long[] { 1, 64, 64 }, ok.shape);
    }

    [Fact]
    public void EncodeRejectsBadShapes()
    {
        using var four = torch.zeros([4, 2, 2], ScalarType.Byte);
        using var f = torch.zeros([3, 2, 2]);
        using var flat = torch.zeros([4], ScalarType.Byte);
        Assert.Contains("1 or 3 channels", Assert.Throws<ArgumentException>(() => ImageCodec.EncodePng(four)).Message);
        Assert.Contains("uint8", Assert.Throws<ArgumentException>(() => ImageCodec.EncodePng(f)).Message);
        Assert.Contains("[C, H, W]", Assert.Throws<ArgumentException>(() => ImageCodec.EncodeJpeg(flat)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageCodec.EncodeJpeg(four, quality: 0));
    }

    // A minimal PNG: 8-bit, no interlace, one uncompressed (stored) zlib block.
    internal static byte[] TinyPng(int w, int h, byte colourType, byte[] row, int? rows = null)
    {
        int stored = rows ?? h;   // fewer rows than h makes a PNG whose data ends early
        var ms = new MemoryStream();
        ms.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10]);
        var ihdr = new MemoryStream();
        WriteBE(ihdr, w); WriteBE(ihdr, h);
        ihdr.Write([8, colourType, 0, 0, 0]);
        Chunk(ms, "IHDR", ihdr.ToArray());
        var raw = new MemoryStream();
        for (int y = 0; y < stored; y++) { raw.WriteByte(0); raw.Write(row, y * row.Length / stored, row.Length / stored); }
        byte[] data = raw.ToArray();
        var z = new MemoryStream();
        z.Write([0x78, 0x01, 1, (byte)data.Length, (byte)(data.Length >> 8), (byte)~data.Length, (byte)(~data.Length >> 8)]);
        z.Write(data);
        uint a = 1, b = 0;
        foreach (byte d in data) { a = (a + d) % 65521; b = (b + a) % 65521; }
        WriteBE(z, (int)(b << 16 | a));
        Chunk(ms, "IDAT", z.ToArray());
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void WriteBE(Stream s, int v) => s.Write([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);

    private static void Chunk(Stream s, string type, byte[] data)
    {
        WriteBE(s, data.Length);
        byte[] td = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        s.Write(td);
        WriteBE(s, (int)Crc32(td));
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte d in data)
        {
            crc ^= d;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
