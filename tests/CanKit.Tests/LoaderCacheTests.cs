using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>The cache of patched copies: written only when needed, verified, reused, rewritten when damaged, and the
/// original never touched.</summary>
public class LoaderCacheTests
{
    /// <summary>A copy of the real library in its own folder (the original in the build output stays untouched).</summary>
    static string CopyOriginal(LoaderFiles.TempDir tmp)
    {
        var dir = Directory.CreateDirectory(Path.Combine(tmp.Path, "pkg")).FullName;
        var path = Path.Combine(dir, TorchSharpLoader.LibraryFileName);
        File.Copy(LoaderFiles.RealLibrary(), path);
        return path;
    }

    [Fact]
    public void Nothing_is_written_when_the_system_provides_the_version()
    {
        using var tmp = new LoaderFiles.TempDir();
        var original = CopyOriginal(tmp);
        var cache = Path.Combine(tmp.Path, "cache");

        var prep = TorchSharpLoader.Prepare(original, cache, FakeSystem.UpTo(32));

        Assert.Equal(TorchSharpLoader.Outcome.NotNeeded, prep.Outcome);
        Assert.Null(prep.CopyPath);
        Assert.False(Directory.Exists(cache));
    }

    [Fact]
    public void A_verified_copy_is_written_under_the_hash_of_the_original_and_then_reused()
    {
        using var tmp = new LoaderFiles.TempDir();
        var original = CopyOriginal(tmp);
        var before = File.ReadAllBytes(original);
        var cache = Path.Combine(tmp.Path, "cache");

        var first = TorchSharpLoader.Prepare(original, cache, FakeSystem.UpTo(30));
        Assert.Equal(TorchSharpLoader.Outcome.WroteCopy, first.Outcome);
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(before)).ToLowerInvariant()[..32];
        Assert.Equal(Path.Combine(cache, hash, TorchSharpLoader.LibraryFileName), first.CopyPath);
        Assert.True(WeakVersionPatch.IsPatchOf(before, File.ReadAllBytes(first.CopyPath!), first.Plan));
        Assert.Equal([TorchSharpLoader.LibraryFileName], Directory.GetFiles(Path.GetDirectoryName(first.CopyPath)!).Select(Path.GetFileName));
        Assert.Equal(before, File.ReadAllBytes(original));

        var stamp = File.GetLastWriteTimeUtc(first.CopyPath!);
        var second = TorchSharpLoader.Prepare(original, cache, FakeSystem.UpTo(30));
        Assert.Equal(TorchSharpLoader.Outcome.ReusedCopy, second.Outcome);
        Assert.Equal(first.CopyPath, second.CopyPath);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(second.CopyPath!));
    }

    [Theory]
    [InlineData("flipped byte")]
    [InlineData("truncated")]
    [InlineData("unpatched original")]
    public void A_damaged_cache_entry_is_rewritten(string damage)
    {
        using var tmp = new LoaderFiles.TempDir();
        var original = CopyOriginal(tmp);
        var cache = Path.Combine(tmp.Path, "cache");
        var copy = TorchSharpLoader.Prepare(original, cache, FakeSystem.UpTo(30)).CopyPath!;

        var bytes = File.ReadAllBytes(copy);
        switch (damage)
        {
            case "flipped byte": bytes[bytes.Length / 2] ^= 0x40; File.WriteAllBytes(copy, bytes); break;
            case "truncated": File.WriteAllBytes(copy, bytes[..(bytes.Length - 1)]); break;
            case "unpatched original": File.Copy(original, copy, overwrite: true); break;
        }

        var prep = TorchSharpLoader.Prepare(original, cache, FakeSystem.UpTo(30));
        Assert.Equal(TorchSharpLoader.Outcome.WroteCopy, prep.Outcome);
        Assert.Equal(copy, prep.CopyPath);
        Assert.True(WeakVersionPatch.IsPatchOf(File.ReadAllBytes(original), File.ReadAllBytes(copy), prep.Plan));
        Assert.Equal([TorchSharpLoader.LibraryFileName], Directory.GetFiles(Path.GetDirectoryName(copy)!).Select(Path.GetFileName));
    }

    [Fact]
    public void A_library_missing_other_versions_writes_nothing_and_names_the_file()
    {
        using var tmp = new LoaderFiles.TempDir();
        var original = CopyOriginal(tmp);
        var cache = Path.Combine(tmp.Path, "cache");

        var e = Assert.Throws<NotSupportedException>(() => TorchSharpLoader.Prepare(original, cache, FakeSystem.UpTo(29)));
        Assert.Contains(original, e.Message);
        Assert.Contains("GLIBCXX_3.4.30", e.Message);
        Assert.False(Directory.Exists(cache));
    }

    [Fact]
    public void An_unwritable_cache_is_an_error_naming_the_copy_and_the_variable()
    {
        using var tmp = new LoaderFiles.TempDir();
        var original = CopyOriginal(tmp);
        var blocker = Path.Combine(tmp.Path, "not-a-folder");
        File.WriteAllText(blocker, "a file where the cache folder would go");

        var e = Assert.Throws<IOException>(() => TorchSharpLoader.Prepare(original, Path.Combine(blocker, "cache"), FakeSystem.UpTo(30)));
        Assert.Contains(Path.Combine(blocker, "cache"), e.Message);
        Assert.Contains("CANKIT_NATIVE_CACHE", e.Message);
    }
}
