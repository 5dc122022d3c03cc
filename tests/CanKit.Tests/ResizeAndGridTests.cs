using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

/// <summary>Resizing and image grids against pixels and files written here.</summary>
public sealed class ResizeAndGridTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-codec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ResizeCenterCropKeepsTheMiddle()
    {
        // [1, 4, 8]: shorter side already 4 → no resampling, the centred 4×4 is columns 2..5.
        var px = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        using var img = torch.tensor(px, [1, 4, 8]);
        using var crop = ImageCodec.ResizeCenterCrop(img, 4);
        Assert.Equal(new long[] { 1, 4, 4 }, crop.shape);
        Assert.Equal(new byte[] { 2, 3, 4, 5, 10, 11, 12, 13, 18, 19, 20, 21, 26, 27, 28, 29 }, crop.Host<byte>());

        // A constant image stays constant at any scale.
        using var flat = torch.full([3, 30, 50], 77, ScalarType.Byte);
        using var small = ImageCodec.ResizeCenterCrop(flat, 12);
        Assert.Equal(new long[] { 3, 12, 12 }, small.shape);
        Assert.All(small.Host<byte>(), v => Assert.Equal(77, v));

        // A horizontal ramp 10·x shrunk 2×: the (symmetric, antialiasing) filter keeps interior samples on the
        // ramp at the output pixel centres, source x = 2j + 0.5 → 20j + 5; every row is the same.
        var ramp = new byte[16 * 16];
        for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) ramp[y * 16 + x] = (byte)(10 * x);
        using var r = torch.tensor(ramp, [1, 16, 16]);
        using var half = ImageCodec.ResizeCenterCrop(r, 8);
        var h = half.Host<byte>();
        for (int y = 0; y < 8; y++)
        {
            Assert.Equal(h[..8], h[(y * 8)..(y * 8 + 8)]);
            for (int j = 1; j < 7; j++) Assert.InRange(h[y * 8 + j], 20 * j + 4, 20 * j + 6);
        }
    }

    [Fact]
    public void GridTilesWithPadding()
    {
        // Five 1×2×2 float images in a 2×3 grid with padding 1 (pad value 9).
        var px = Enumerable.Range(0, 20).Select(i => i / 4 / 4f).ToArray();   // image i is constant i/4 → byte round(i·63.75)
        using var batch = torch.tensor(px, [5, 1, 2, 2]);
        using var grid = ImageGrid.Tile(batch, cols: 3, padding: 1, padValue: 9);
        Assert.Equal(new long[] { 1, 2 * 3 + 1, 3 * 3 + 1 }, grid.shape);
        var g = grid.Host<byte>();
        byte At(int y, int x) => g[y * 10 + x];
        Assert.Equal(9, At(0, 0));
        Assert.Equal(0, At(1, 1));
        Assert.Equal(64, At(2, 5));      // image 1 (row 0, col 1) → 0.25·255 = 63.75 → 64
        Assert.Equal(128, At(1, 7));     // image 2 (row 0, col 2) → 127.5 rounds half to even → 128
        Assert.Equal(191, At(4, 1));     // image 3 (row 1, col 0) → 191.25 → 191
        Assert.Equal(255, At(5, 5));     // image 4 (row 1, col 1) → 255
        Assert.Equal(9, At(5, 8));       // empty slot 5 stays padding
        string path = Path.Combine(_dir, "grid.png");
        ImageGrid.SavePng(path, batch, cols: 3, padding: 1, padValue: 9);
        using var back = ImageCodec.DecodeFile(path);
        Assert.Equal(g, back.Host<byte>());
        Assert.Throws<ArgumentException>(() => ImageGrid.Tile(batch, cols: 2, rows: 2));
    }
}
