using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace CanKit.Engine;

/// <summary>
/// Finds the file the dynamic loader would use for a library name (<c>libstdc++.so.6</c>) in this process, and the
/// symbol versions it defines. A library already mapped into the process wins (the loader reuses it: the .NET host
/// itself links libstdc++), then <c>LD_LIBRARY_PATH</c>, then the system library directories.
/// </summary>
public static class SystemLibraries
{
    static readonly ConcurrentDictionary<string, IReadOnlySet<string>?> versionCache = new(StringComparer.Ordinal);

    /// <summary>The versions the library named <paramref name="soname"/> defines, or null when it is not found.</summary>
    public static IReadOnlySet<string>? ProvidedVersions(string soname) =>
        versionCache.GetOrAdd(soname, name =>
        {
            var path = Locate(name);
            if (path is null) return null;
            try { return ElfImage.Read(path).DefinedVersions; }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException) { return null; }
        });

    /// <summary>The path of the file that provides <paramref name="soname"/> to this process, or null.</summary>
    public static string? Locate(string soname)
    {
        foreach (var mapped in MappedFiles())
        {
            var file = Path.GetFileName(mapped);
            // libstdc++.so.6 is mapped as its real name, libstdc++.so.6.0.30: match the prefix, confirm by SONAME.
            if (file == soname) return mapped;
            if (file.StartsWith(soname + ".", StringComparison.Ordinal) && SoNameOf(mapped) == soname) return mapped;
        }
        foreach (var dir in SearchDirectories())
        {
            var candidate = Path.Combine(dir, soname);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    static string? SoNameOf(string path)
    {
        try { return ElfImage.Read(path).SoName; }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException) { return null; }
    }

    static IEnumerable<string> MappedFiles()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) yield break;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(maps))
        {
            // address perms offset dev inode pathname
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..].Trim();
            if (path.EndsWith(" (deleted)", StringComparison.Ordinal)) continue;
            if (seen.Add(path)) yield return path;
        }
    }

    static IEnumerable<string> SearchDirectories()
    {
        var fromEnv = Environment.GetEnvironmentVariable("LD_LIBRARY_PATH");
        if (!string.IsNullOrEmpty(fromEnv))
            foreach (var d in fromEnv.Split(':', StringSplitOptions.RemoveEmptyEntries)) yield return d;
        var multiarch = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x86_64-linux-gnu",
            Architecture.Arm64 => "aarch64-linux-gnu",
            _ => null,
        };
        if (multiarch is not null) { yield return "/lib/" + multiarch; yield return "/usr/lib/" + multiarch; }
        foreach (var d in new[] { "/lib64", "/usr/lib64", "/lib", "/usr/lib" }) yield return d;
    }
}
