using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CanKit.Engine;

/// <summary>
/// Lets SkiaSharp find its native library (<c>libSkiaSharp</c>) in hosts that do not list it, such as a Jupyter
/// kernel that references CanKit.dll from a build output with <c>#r</c>; elsewhere it changes nothing.
/// </summary>
/// <remarks>
/// <para>A host resolves <c>DllImport("libSkiaSharp")</c> from its own <c>.deps.json</c> and the referencing assembly's
/// folder. A build output keeps the file either beside the assemblies (builds for one runtime identifier) or under
/// <c>runtimes/&lt;rid&gt;/native/</c> (portable builds); a host whose deps.json does not mention SkiaSharp's native
/// assets (the .NET Interactive kernel) finds neither and SkiaSharp throws <see cref="DllNotFoundException"/>.
/// Loading the file by hand beforehand does not help, because the runtime resolves the import by name and path, not by
/// what is already loaded.</para>
/// <para><see cref="Install"/> sets a <see cref="DllImportResolver"/> on SkiaSharp's assembly, once, when none is set
/// yet (there can be only one; when another is there it is left alone). The resolver first asks the runtime's own
/// probing, so wherever SkiaSharp loads without it the same file is used; only when that fails does it try the
/// platform's file name (<c>libSkiaSharp.so</c>, <c>.dylib</c> or <c>.dll</c>) beside SkiaSharp.dll and CanKit.dll and
/// in their <c>runtimes/&lt;rid&gt;/native/</c> folders. When none of those loads either, it hands the import back to
/// the runtime, whose exception then lists where it looked. A CanKit module initializer calls <see cref="Install"/>,
/// so it is in place before any CanKit code reaches SkiaSharp. <c>CANKIT_LOADER=off</c> skips it;
/// <c>CANKIT_LOADER_TRACE=1</c> prints its decisions with <see cref="TorchSharpLoader"/>'s.</para>
/// </remarks>
public static class SkiaSharpResolver
{
    /// <summary>What <see cref="Install"/> did.</summary>
    public enum Outcome
    {
        /// <summary>Not run yet.</summary>
        NotRun,
        /// <summary><c>CANKIT_LOADER=off</c>.</summary>
        Disabled,
        /// <summary>SkiaSharp.dll could not be loaded, so there is nothing to resolve for.</summary>
        SkiaSharpMissing,
        /// <summary>SkiaSharp's assembly already had a resolver; it was kept.</summary>
        AlreadySet,
        /// <summary>The resolver was set.</summary>
        Installed,
        /// <summary>Something unexpected stopped it (see <see cref="TorchSharpLoader.Log"/>); SkiaSharp probes as usual.</summary>
        Failed,
    }

    /// <summary>The library name in SkiaSharp's <c>DllImport</c>s.</summary>
    public const string ImportName = "libSkiaSharp";

    static readonly object gate = new();

    /// <summary>What the last <see cref="Install"/> did.</summary>
    public static Outcome LastOutcome { get; private set; } = Outcome.NotRun;

    /// <summary>
    /// The file the resolver loaded because the runtime's probing did not find one; null when it has not been asked,
    /// when the runtime found the library itself, or when nothing was found.
    /// </summary>
    public static string? ResolvedPath { get; private set; }

#pragma warning disable CA2255 // a library module initializer is the point: it must run before SkiaSharp's first P/Invoke
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void InstallWhenCanKitLoads() => Install();

    /// <summary>Sets the resolver on SkiaSharp's assembly if it has none; idempotent, thread-safe, never throws.</summary>
    public static void Install()
    {
        lock (gate)
        {
            if (LastOutcome != Outcome.NotRun) return;
            try { LastOutcome = Run(); }
            catch (Exception e)
            {
                // A resolver is a convenience: without it SkiaSharp behaves as it would have anyway.
                TorchSharpLoader.Trace($"SkiaSharp resolver not set: {e.GetType().Name}: {e.Message}");
                LastOutcome = Outcome.Failed;
            }
        }
    }

    static Outcome Run()
    {
        if (TorchSharpLoader.DisabledByEnvironment())
        {
            TorchSharpLoader.Trace("CANKIT_LOADER=off: leaving libSkiaSharp to the runtime");
            return Outcome.Disabled;
        }
        Assembly skia;
        try { skia = SkiaSharpAssembly(); }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            TorchSharpLoader.Trace($"SkiaSharp.dll not loadable ({e.Message}); no resolver for {ImportName}");
            return Outcome.SkiaSharpMissing;
        }

        var directories = new[] { skia.Location, typeof(SkiaSharpResolver).Assembly.Location }
            .Where(l => !string.IsNullOrEmpty(l)) // empty for single-file and in-memory assemblies
            .Select(Path.GetDirectoryName);
        var candidates = CandidatePaths(directories, FileName(CurrentPlatform()), RuntimeIdentifiers());
        var outcome = InstallOn(skia, candidates);
        TorchSharpLoader.Trace(outcome == Outcome.Installed
            ? $"DllImport(\"{ImportName}\") in SkiaSharp: runtime probing first, then {string.Join(", ", candidates)}"
            : $"SkiaSharp already has a DllImport resolver; leaving {ImportName} to it");
        return outcome;
    }

    // Kept out of Run so that a missing SkiaSharp.dll surfaces as a catchable exception here, not when Run is compiled.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static Assembly SkiaSharpAssembly() => typeof(SkiaSharp.SKImage).Assembly;

    /// <summary>
    /// Sets on <paramref name="skiaSharp"/> a resolver that answers <see cref="ImportName"/> with the runtime's own
    /// probing, else the first of <paramref name="candidates"/> that loads, else nothing (the runtime then probes and
    /// reports as usual); other names are left to the runtime. Returns <see cref="Outcome.AlreadySet"/>, setting
    /// nothing, when the assembly already has a resolver.
    /// </summary>
    public static Outcome InstallOn(Assembly skiaSharp, IReadOnlyList<string> candidates)
    {
        bool isProcessSkia = ReferenceEquals(skiaSharp, SafeSkiaSharpAssembly());
        // The runtime calls a resolver once per P/Invoke entry point (hundreds for SkiaSharp): the answer for the first
        // one is kept, so a failed probe is not repeated for each.
        IntPtr? answer = null;
        var guard = new object();
        DllImportResolver r = (name, assembly, searchPath) =>
        {
            if (name != ImportName) return IntPtr.Zero;
            lock (guard) return answer ??= Resolve(name, assembly, searchPath, candidates, isProcessSkia);
        };
        try { NativeLibrary.SetDllImportResolver(skiaSharp, r); }
        catch (InvalidOperationException) { return Outcome.AlreadySet; }
        return Outcome.Installed;
    }

    static Assembly? SafeSkiaSharpAssembly()
    {
        try { return SkiaSharpAssembly(); }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException) { return null; }
    }

    internal static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath, IReadOnlyList<string> candidates, bool record)
    {
        // The runtime's own probing first (it honours the import's search-path attribute and does not call resolvers),
        // so that wherever SkiaSharp would load without this resolver it loads the very same file.
        if (NativeLibrary.TryLoad(name, assembly, searchPath, out var handle))
        {
            TorchSharpLoader.Trace($"{ImportName}: found by the runtime's probing");
            return handle;
        }
        foreach (var path in candidates)
        {
            if (!File.Exists(path)) continue;
            if (NativeLibrary.TryLoad(path, out handle))
            {
                TorchSharpLoader.Trace($"{ImportName}: not found by the runtime's probing; loaded {path}");
                if (record) ResolvedPath = path;
                return handle;
            }
            TorchSharpLoader.Trace($"{ImportName}: {path} exists but did not load; trying the next");
        }
        TorchSharpLoader.Trace($"{ImportName}: not found by the runtime's probing nor in {string.Join(", ", candidates)}");
        return IntPtr.Zero;
    }

    /// <summary>The native library's file name on <paramref name="platform"/>: <c>libSkiaSharp.dll</c> on Windows,
    /// <c>libSkiaSharp.dylib</c> on macOS, <c>libSkiaSharp.so</c> elsewhere.</summary>
    public static string FileName(OSPlatform platform) =>
        platform == OSPlatform.Windows ? ImportName + ".dll"
        : platform == OSPlatform.OSX ? ImportName + ".dylib"
        : ImportName + ".so";

    static OSPlatform CurrentPlatform() =>
        OperatingSystem.IsWindows() ? OSPlatform.Windows
        : OperatingSystem.IsMacOS() ? OSPlatform.OSX
        : OperatingSystem.IsFreeBSD() ? OSPlatform.FreeBSD
        : OSPlatform.Linux;

    /// <summary>
    /// The <c>runtimes/&lt;rid&gt;/</c> folder names to look in for this process, most specific first: the runtime's
    /// own identifier, then the portable one for its OS and architecture (NuGet packages use those), then SkiaSharp's
    /// architecture-neutral macOS folder <c>osx</c>.
    /// </summary>
    public static IReadOnlyList<string> RuntimeIdentifiers() =>
        RuntimeIdentifiers(RuntimeInformation.RuntimeIdentifier, CurrentPlatform(), RuntimeInformation.ProcessArchitecture,
                           musl: RuntimeInformation.RuntimeIdentifier.Contains("musl", StringComparison.OrdinalIgnoreCase));

    /// <summary><see cref="RuntimeIdentifiers()"/> for a given runtime identifier, platform and architecture.</summary>
    public static IReadOnlyList<string> RuntimeIdentifiers(string? runtimeIdentifier, OSPlatform platform, Architecture architecture, bool musl)
    {
        var rids = new List<string>();
        if (!string.IsNullOrEmpty(runtimeIdentifier)) rids.Add(runtimeIdentifier);
        var os = platform == OSPlatform.Windows ? "win"
               : platform == OSPlatform.OSX ? "osx"
               : platform == OSPlatform.FreeBSD ? "freebsd"
               : musl ? "linux-musl" : "linux";
        rids.Add($"{os}-{architecture.ToString().ToLowerInvariant()}");
        if (platform == OSPlatform.OSX) rids.Add("osx");
        return rids.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Where to look for <paramref name="fileName"/>, in order: each of <paramref name="directories"/> itself (builds
    /// for one runtime identifier copy native files there), then its <c>runtimes/&lt;rid&gt;/native/</c> folder for
    /// each of <paramref name="runtimeIdentifiers"/>. Null or empty directories are skipped; duplicates are dropped.
    /// </summary>
    public static IReadOnlyList<string> CandidatePaths(IEnumerable<string?> directories, string fileName, IEnumerable<string> runtimeIdentifiers)
    {
        var dirs = directories.Where(d => !string.IsNullOrEmpty(d)).Select(d => Path.GetFullPath(d!)).ToList();
        var rids = runtimeIdentifiers.ToList();
        var paths = new List<string>();
        foreach (var d in dirs) paths.Add(Path.Combine(d, fileName));
        foreach (var d in dirs)
            foreach (var rid in rids)
                paths.Add(Path.Combine(d, "runtimes", rid, "native", fileName));
        return paths.Distinct(OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal).ToList();
    }

    /// <summary>The first of <paramref name="candidates"/> that exists, or null.</summary>
    public static string? Find(IEnumerable<string> candidates) => candidates.FirstOrDefault(File.Exists);
}
