using CanKit.Data;
using Xunit;

namespace CanKit.Tests;

/// <summary>ImageFolder on a generated class-folder tree of PNG and JPEG files, with one corrupt file.</summary>
public sealed class ImageFolderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cankit-imgfolder-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    // Classes b_cat (2 PNG), a_dog (2 JPEG, one grayscale), c_fish (1 PNG 40×20 + 1 corrupt .JPEG); each image is
    // a flat colour so its resized pixels are known exactly (PNG) or nearly (JPEG).
    private void MakeTree()
    {
        void Save(string cls, string file, byte[] rgb, int c = 3, int h = 20, int w = 30, bool jpeg = false)
        {
            Directory.CreateDirectory(Path.Combine(_root, cls));
            var px = new byte[c * h * w];
            for (int ch = 0; ch < c; ch++) Array.Fill(px, rgb[ch], ch * h * w, h * w);
            using var t = torch.tensor(px, [c, h, w]);
            File.WriteAllBytes(Path.Combine(_root, cls, file), jpeg ? ImageCodec.EncodeJpeg(t, 95) : ImageCodec.EncodePng(t));
        }
        Save("b_cat", "1.png", [10, 20, 30]);
        Save("b_cat", "2.PNG", [40, 50, 60]);
        Save("a_dog", "x.jpg", [100, 150, 200], jpeg: true);
        Save("a_dog", "y.JPEG", [90], c: 1, jpeg: true);
        Save("c_fish", "tall.png", [7, 8, 9], h: 40, w: 20);
        File.WriteAllBytes(Path.Combine(_root, "c_fish", "broken.JPEG"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
        File.WriteAllText(Path.Combine(_root, "c_fish", "notes.txt"), "ignored: not an image extension");
    }

    [Fact]
    public void LoadsLabelsSkipsCorruptAndReusesTheCache()
    {
        MakeTree();
        var reports = new List<(int, int)>();
        var set = ImageFolder.Load(_root, 8, out var summary, progress: new SyncProgress(reports));
        Assert.False(summary.FromCache);
        Assert.Equal(new[] { "a_dog", "b_cat", "c_fish" }, set.ClassNames);
        Assert.Equal(new[] { 0, 0, 1, 1, 2 }, set.Labels);
        Assert.Equal((3, 8, 8), (set.Channels, set.Height, set.Width));
        Assert.Same(Normalization.ImageNet, set.Normalization);
        var skipped = Assert.Single(summary.Skipped);
        Assert.EndsWith(Path.Combine("c_fish", "broken.JPEG"), skipped.Path);
        Assert.Contains("JPEG", skipped.Reason);
        Assert.Contains("1 unreadable", summary.ToString());
        Assert.Equal((6, 6), reports[^1]);

        // Image 1 of a_dog is the grayscale JPEG (→ 3 equal planes), image 2 is b_cat/1.png exactly.
        byte[] Image(ImageSet s, int i) => s.Image(i);
        Assert.All(Image(set, 1), v => Assert.InRange(v, 88, 92));
        Assert.Equal(Enumerable.Repeat((byte)10, 64).Concat(Enumerable.Repeat((byte)20, 64)).Concat(Enumerable.Repeat((byte)30, 64)), Image(set, 2));
        Assert.All(Image(set, 0).AsSpan(0, 64).ToArray(), v => Assert.InRange(v, 97, 103));

        // Second load: the images are gone, only the packed cache is read.
        byte[] first = Enumerable.Range(0, 5).SelectMany(set.Image).ToArray();
        foreach (string d in Directory.GetDirectories(_root)) Directory.Delete(d, recursive: true);
        var again = ImageFolder.Load(_root, 8, out var summary2);
        Assert.True(summary2.FromCache);
        Assert.Equal(first, Enumerable.Range(0, 5).SelectMany(again.Image).ToArray());
        Assert.Equal(set.Labels, again.Labels);
        Assert.Equal(set.ClassNames, again.ClassNames);
        Assert.Single(summary2.Skipped);
        Assert.Empty(Directory.GetFiles(_root, "*.tmp"));

        // Another side is another cache, which needs the images.
        Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_root, 4));
    }

    [Fact]
    public void FailFastNamesTheFile()
    {
        MakeTree();
        var e = Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_root, 8, failOnUnreadable: true));
        Assert.Contains("broken.JPEG", e.Message);
        Assert.False(File.Exists(ImageFolder.CachePath(_root, 8)));
    }

    [Fact]
    public void ACorruptCacheIsReportedNotTrusted()
    {
        MakeTree();
        ImageFolder.Load(_root, 8);
        string bin = ImageFolder.CachePath(_root, 8);
        using (var f = File.OpenWrite(bin)) f.SetLength(f.Length - 1);
        Assert.Contains("delete both files", Assert.Throws<InvalidDataException>(() => ImageFolder.Load(_root, 8)).Message);
        var rebuilt = ImageFolder.Load(_root, 8, out var s, rebuild: true);
        Assert.False(s.FromCache);
        Assert.Equal(5, rebuilt.Count);
    }

    [Fact]
    public void MissingFolderPointsToTheScripts()
    {
        var e = Assert.Throws<DirectoryNotFoundException>(() => ImageFolder.Load(Path.Combine(_root, "nope"), 8));
        Assert.Contains("data-scripts", e.Message);
    }

    // Progress<T> posts to a thread pool; this one records synchronously so the test can read it at once.
    private sealed class SyncProgress(List<(int, int)> sink) : IProgress<(int done, int total)>
    {
        public void Report((int done, int total) value) { lock (sink) sink.Add(value); }
    }
}
