using System.Formats.Tar;
using System.Text;
using CanKit.Data.Fetch;
using CanKit.IO;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// Damage that once passed without a word: a tar entry that declares more bytes than the archive holds (or a header that is
/// not a number), a feature cache that is cut, has lost or changed its labels, or whose features changed, and an
/// image-folder cache with a label outside its classes. Each is one line naming the file (and the entry or field); a
/// damaged feature cache is never scored from: it is rebuilt, saying why, and the score is the undamaged one.
/// </summary>
public sealed class SilentCorruptionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cankit-silent-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A ustar archive of two 100-byte entries, the size field of entry `which` replaced (its checksum recomputed, as tar
    // readers check it). Each entry is a 512-byte header and its data padded to 512 bytes.
    private string TarWithSize(string sizeField, int which = 0)
    {
        var ms = new MemoryStream();
        using (var tar = new TarWriter(ms, TarEntryFormat.Ustar, leaveOpen: true))
            foreach (string name in new[] { "data/x.bin", "data/y.bin" })
                tar.WriteEntry(new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(new byte[100]) });
        var bytes = ms.ToArray();
        int at = 1024 * which;
        Encoding.ASCII.GetBytes(sizeField.PadLeft(11, '0') + "\0").CopyTo(bytes, at + 124);     // size: 11 octal digits and NUL
        Encoding.ASCII.GetBytes("        ").CopyTo(bytes, at + 148);                            // checksum counted as spaces
        int sum = bytes.Skip(at).Take(512).Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(bytes, at + 148);
        string path = Path.Combine(_dir, $"a-{Guid.NewGuid():N}.tar");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void ATarEntryDeclaringMoreBytesThanTheArchiveHoldsIsNamed()
    {
        string archive = TarWithSize(Convert.ToString(10_000_000, 8));
        string target = Path.Combine(_dir, "out");
        var e = Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(archive, target));
        // What follows the first header (its data, the second entry, the end blocks) is far less than the bytes declared.
        Assert.StartsWith($"{archive}: entry 'data/x.bin' declares 10000000 bytes, but the archive ends after ", e.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(target));

        string bad = TarWithSize("9z9", which: 1);   // not octal
        var h = Assert.Throws<InvalidDataException>(() => SafeTarExtractor.Extract(bad, target));
        Assert.StartsWith($"{bad}: the header after entry 'data/x.bin' is damaged (", h.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(target));
    }

    [Fact]
    public void ADamagedFeatureCacheIsRebuiltSayingWhyAndScoresAsUndamaged()
    {
        string run = SyntheticData.TrainedRun(_dir);
        var first = CliRunner.Run("knn", "--out", run, "--k", "5");
        Assert.True(first.Code == 0, first.Err);
        string Score(string output) => output.Split('\n').Single(l => l.Contains("5-NN top-1"));
        string cache = Path.Combine(run, "features-pretrained-train.safetensors");
        var damages = new (string Reason, Action<Dictionary<string, string>, Dictionary<string, Tensor>> Change)[]
        {
            ("no int64 'labels' tensor", (_, t) => t.Remove("labels")),
            ("its labels differ from the data's", (_, t) => t["labels"] = (t["labels"] + 1) % 10),
            ("its features differ from the checksum recorded when they were written", (_, t) => t["features"] = t["features"] * 1.5f),
            ("no checksum of its features", (m, _) => m.Remove("sha256")),
        };
        foreach (var (reason, change) in damages)
        {
            using (var ckpt = SafeTensors.Load(cache))
            {
                var (meta, tensors) = (ckpt.Metadata.ToDictionary(), ckpt.ToDictionary());
                change(meta, tensors);
                SafeTensors.Save(cache, tensors, meta);
            }
            var again = CliRunner.Run("knn", "--out", run, "--k", "5");
            Assert.True(again.Code == 0, again.Err);
            Assert.Contains($"{cache}: {reason}", again.Out);
            Assert.Equal(Score(first.Out), Score(again.Out));
        }
        File.WriteAllBytes(cache, File.ReadAllBytes(cache)[..200]);
        var cut = CliRunner.Run("knn", "--out", run, "--k", "5");
        Assert.Contains($"{cache}: unreadable (", cut.Out);
        Assert.Equal(Score(first.Out), Score(cut.Out));
        // An intact cache is used without a word.
        Assert.DoesNotContain("extracting the features again", CliRunner.Run("knn", "--out", run, "--k", "5").Out);
    }

    [Fact]
    public void AnImageCacheLabelOutsideItsClassesIsNamed()
    {
        string root = Path.Combine(_dir, "images");
        for (int i = 0; i < 3; i++)
        {
            SyntheticData.Png(Path.Combine(root, "a", $"{i}.png"), (byte)(10 * i));
            SyntheticData.Png(Path.Combine(root, "b", $"{i}.png"), (byte)(100 + 10 * i));
        }
        Assert.Equal(0, CliRunner.Run("data", "cache", root, "--side", "8").Code);
        string bin = Directory.GetFiles(root, ".cankit-cache-8*").Single(f => !f.EndsWith(".json"));
        var bytes = File.ReadAllBytes(bin);
        BitConverter.GetBytes(7).CopyTo(bytes, bytes.Length - 6 * 4);   // the labels close the file: image 0's is now 7
        File.WriteAllBytes(bin, bytes);
        BadInputFlagTests.AssertOneLineError(CliRunner.Run("data", "cache", root, "--side", "8"), 1, $"{bin}: label 7 of image 0 is outside 0..1");
    }
}
