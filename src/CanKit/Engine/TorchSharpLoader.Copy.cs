using System.Security.Cryptography;

namespace CanKit.Engine;

// The patched copy: deciding whether one is needed, and writing and verifying it in the cache folder.
public static partial class TorchSharpLoader
{
    /// <summary>
    /// Decides whether <paramref name="originalPath"/> needs the patch given <paramref name="providedVersions"/>, and if it
    /// does, makes sure a verified copy exists under <paramref name="cacheRoot"/> (reusing a verified one, rewriting one
    /// that fails verification). Writes nothing when no patch is needed. Loads nothing.
    /// </summary>
    public static Preparation Prepare(string originalPath, string cacheRoot, Func<string, IReadOnlySet<string>?> providedVersions)
    {
        var original = File.ReadAllBytes(originalPath);
        var image = ElfImage.Parse(original, originalPath);
        var plan = WeakVersionPatch.Decide(image, originalPath, providedVersions);
        if (plan.NothingToDo) return new Preparation(Outcome.NotNeeded, null, plan);
        foreach (var m in plan.Missing)
            Trace($"{originalPath} needs {m.Version} from {m.File}, which this system lacks; " +
                  $"only {string.Join(", ", image.Symbols.Where(s => (s.VersionIndex & 0x7fff) == m.Index).Select(s => s.Name))} is bound to it");

        var expected = WeakVersionPatch.Apply(original, plan);
        var hash = Convert.ToHexString(SHA256.HashData(original)).ToLowerInvariant()[..32];
        var dir = Path.Combine(cacheRoot, hash);
        var copy = Path.Combine(dir, LibraryFileName);

        if (File.Exists(copy) && WeakVersionPatch.IsPatchOf(original, File.ReadAllBytes(copy), plan))
        {
            Trace($"reusing verified copy {copy}");
            return new Preparation(Outcome.ReusedCopy, copy, plan);
        }
        if (File.Exists(copy)) Trace($"cached copy {copy} failed verification; rewriting it");

        var temp = Path.Combine(dir, $".{LibraryFileName}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                f.Write(expected);
                f.Flush(flushToDisk: true);
            }
            // rename(2) within one folder is atomic: another process sees the old file or the whole new one.
            File.Move(temp, copy, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{copy}: cannot write the patched copy of {originalPath} ({e.Message}); " +
                                  "set CANKIT_NATIVE_CACHE to a writable folder.", e);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        if (!WeakVersionPatch.IsPatchOf(original, File.ReadAllBytes(copy), plan))
            throw new IOException($"{copy}: the written copy does not match {originalPath} with the weak flag set.");
        Trace($"wrote verified copy {copy}");
        return new Preparation(Outcome.WroteCopy, copy, plan);
    }

    /// <summary>The cache folder: <c>$CANKIT_NATIVE_CACHE</c>, else <c>$XDG_CACHE_HOME/cankit/native</c>, else
    /// <c>~/.cache/cankit/native</c>.</summary>
    public static string CacheRoot()
    {
        var explicitRoot = Environment.GetEnvironmentVariable("CANKIT_NATIVE_CACHE");
        if (!string.IsNullOrEmpty(explicitRoot)) return explicitRoot;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var baseDir = !string.IsNullOrEmpty(xdg) ? xdg
                    : !string.IsNullOrEmpty(home) ? Path.Combine(home, ".cache")
                    : Path.GetTempPath();
        return Path.Combine(baseDir, "cankit", "native");
    }
}
