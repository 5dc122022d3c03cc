using CanKit.IO;
using Xunit;

namespace CanKit.Tests;

/// <summary>Saves that fail: refused names and dtypes write nothing, and a save failing part-way keeps the old file.</summary>
public sealed class SafeTensorsSaveFailureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

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
        // Named with the file, the reason and what is left.
        Assert.Equal($"{path}: could not be written (disk full after a); the previous file is intact", e.Message);
        Assert.True(tempSeen, "the data should have gone to a temporary file beside the target");
        AssertOriginalIntactAndNoTempFiles(path);
    }
}
