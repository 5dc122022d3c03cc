using System.Reflection;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace CanKit.Engine;

/// <summary>
/// Makes TorchSharp's native library load on systems whose libstdc++ is older than the one it was built against,
/// and does nothing anywhere else.
/// </summary>
/// <remarks>
/// <para>TorchSharp 0.107's <c>libLibTorchSharp.so</c> needs <c>GLIBCXX_3.4.32</c> (GCC 13's libstdc++) for exactly one
/// symbol, <c>std::ios_base_library_init()</c>, which is referenced only to force stream initialisation (see
/// <see cref="WeakVersionPatch"/>). Debian 12's libstdc++ stops at 3.4.30, so the dynamic loader refuses the library
/// and every <c>torch.*</c> call throws <see cref="TypeInitializationException"/>.</para>
/// <para><see cref="EnsureLoaded"/> reads the library's <c>.gnu.version_r</c> and the versions that the libraries this
/// process would use define. When nothing is missing it returns without writing anything (newer distributions,
/// Windows, macOS). When the only missing version is that one, it writes a copy with the need marked weak to
/// <c>$XDG_CACHE_HOME/cankit/native/&lt;sha256 of the original&gt;/libLibTorchSharp.so</c> (temp file + rename,
/// verified byte for byte against the original), loads libtorch and then the copy, and points TorchSharp's
/// <c>DllImport("LibTorchSharp")</c> at it. The NuGet cache and the build output are never modified. Any other missing
/// version throws <see cref="NotSupportedException"/> naming the file.</para>
/// <para>It must run before TorchSharp initialises (its static constructor runs at the first <c>torch.*</c> call).
/// CanKit's module initializer calls it, so any program that touches a CanKit type first is covered; code that calls
/// <c>torch.*</c> before any CanKit type (a notebook, another assembly's module initializer) calls it itself.</para>
/// <para>Environment: <c>CANKIT_LOADER=off</c> skips it; <c>CANKIT_LOADER_TRACE=1</c>
/// prints each decision to standard error; <c>CANKIT_NATIVE_CACHE=dir</c> replaces the cache folder.</para>
/// </remarks>
public static partial class TorchSharpLoader
{
    /// <summary>What <see cref="EnsureLoaded"/> did.</summary>
    public enum Outcome
    {
        /// <summary>Not run yet.</summary>
        NotRun,
        /// <summary><c>CANKIT_LOADER=off</c>.</summary>
        Disabled,
        /// <summary>Not Linux, or the library's needs are met: TorchSharp loads it as usual.</summary>
        NotNeeded,
        /// <summary>No <c>libLibTorchSharp.so</c> was found; TorchSharp reports that itself.</summary>
        LibraryNotFound,
        /// <summary>A verified patched copy was already in the cache and was loaded.</summary>
        ReusedCopy,
        /// <summary>A patched copy was written (new, or replacing a cache entry that failed verification) and loaded.</summary>
        WroteCopy,
    }

    /// <summary>The result of preparing a copy: what was decided and, when a copy is needed, where it is.</summary>
    public sealed record Preparation(Outcome Outcome, string? CopyPath, WeakVersionPatch.Plan Plan);

    public const string LibraryFileName = "libLibTorchSharp.so";
    const string TorchSharpImportName = "LibTorchSharp";

    static readonly object gate = new();
    static bool ran;
    static ExceptionDispatchInfo? failure;
    static readonly List<string> log = new();
    static DllImportResolver? resolver; // held so the delegate lives as long as the process
    static System.Diagnostics.Stopwatch? clock;

    /// <summary>What the last <see cref="EnsureLoaded"/> did.</summary>
    public static Outcome LastOutcome { get; private set; } = Outcome.NotRun;

    /// <summary>The patched copy that was loaded, or null.</summary>
    public static string? LoadedCopy { get; private set; }

    /// <summary>The decisions <see cref="EnsureLoaded"/> took, one line each (what <c>CANKIT_LOADER_TRACE=1</c> prints).</summary>
    public static IReadOnlyList<string> Log { get { lock (gate) return log.ToArray(); } }

    /// <summary>
    /// Prepares and loads TorchSharp's native library where the system needs it; idempotent and thread-safe. A failure
    /// is remembered and thrown again on every call.
    /// </summary>
    public static void EnsureLoaded()
    {
        lock (gate)
        {
            if (!ran)
            {
                ran = true;
                clock = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    LastOutcome = Run();
                    Trace($"done: {LastOutcome}");
                }
                catch (Exception e)
                {
                    Trace($"failed: {e.Message}");
                    failure = ExceptionDispatchInfo.Capture(e);
                }
                clock.Stop();
            }
            failure?.Throw();
        }
    }

    static Outcome Run()
    {
        if (DisabledByEnvironment())
        {
            Trace("CANKIT_LOADER=off: leaving TorchSharp's native library to TorchSharp");
            return Outcome.Disabled;
        }
        if (!OperatingSystem.IsLinux())
        {
            Trace($"{RuntimeInformation.OSDescription}: not Linux, nothing to do");
            return Outcome.NotNeeded;
        }

        var dirs = NativeDirectories().ToList();
        var original = dirs.Select(d => Path.Combine(d, LibraryFileName)).FirstOrDefault(File.Exists);
        if (original is null)
        {
            Trace($"{LibraryFileName} not found in {string.Join(", ", dirs)}; leaving it to TorchSharp");
            return Outcome.LibraryNotFound;
        }
        Trace($"TorchSharp's native library: {original}");

        var prep = Prepare(original, CacheRoot(), SystemLibraries.ProvidedVersions);
        foreach (var u in prep.Plan.Unknown) Trace($"{u} not found on this system; its versions are not checked");
        if (prep.CopyPath is null)
        {
            Trace($"{SystemLibraries.Locate("libstdc++.so.6") ?? "libstdc++.so.6"} provides every version it needs: nothing to do");
            return prep.Outcome;
        }

        // The copy lives in another folder, so its RUNPATH ($ORIGIN) no longer finds libtorch: load libtorch's files
        // from the original's folder first; the loader then matches the copy's DT_NEEDED entries by SONAME.
        var image = ElfImage.Read(original);
        var unresolved = new List<string>();
        foreach (var needed in image.NeededLibraries)
        {
            var path = new[] { Path.GetDirectoryName(original)! }.Concat(dirs)
                .Select(d => Path.Combine(d, needed)).FirstOrDefault(File.Exists);
            if (path is not null) { NativeLibrary.Load(path); Trace($"loaded {path}"); }
            else if (SystemLibraries.Locate(needed) is null) unresolved.Add(needed); // system libraries the loader finds itself
        }
        IntPtr handle;
        try { handle = NativeLibrary.Load(prep.CopyPath); }
        catch (DllNotFoundException e)
        {
            var hint = unresolved.Count == 0 ? ""
                : $" {string.Join(", ", unresolved)} not found next to {original} nor in LibTorch's package in the NuGet cache: LibTorch's"
                  + " native files must be in the same folder (as in a build output) or in the cache beside TorchSharp's package.";
            throw new DllNotFoundException($"{prep.CopyPath} (patched copy of {original}) did not load: {e.Message}.{hint}", e);
        }
        Trace($"loaded {prep.CopyPath}");
        LoadedCopy = prep.CopyPath;

        resolver = (name, _, _) => name == TorchSharpImportName ? handle : IntPtr.Zero;
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, resolver);
            Trace($"DllImport(\"{TorchSharpImportName}\") in TorchSharp resolves to the copy");
        }
        catch (InvalidOperationException)
        {
            // Someone else set TorchSharp's resolver; the copy is loaded under the SONAME libLibTorchSharp.so,
            // which the runtime's own probing finds when the original fails.
            Trace("TorchSharp already has a DllImport resolver; relying on the loaded copy's SONAME");
        }
        return prep.Outcome;
    }

    /// <summary>Whether <c>CANKIT_LOADER</c> is <c>off</c> (or <c>0</c>): CanKit then leaves native libraries to the runtime.</summary>
    internal static bool DisabledByEnvironment()
    {
        var setting = Environment.GetEnvironmentVariable("CANKIT_LOADER");
        return setting is not null && (setting.Equals("off", StringComparison.OrdinalIgnoreCase) || setting == "0");
    }

    /// <summary>Where the runtime looks for TorchSharp's native files, in its order: the app's native search folders
    /// (from its .deps.json), then next to TorchSharp.dll, then, for hosts that load TorchSharp from the NuGet cache (a
    /// notebook's <c>#r "nuget: CanKit"</c>, a script), the torchsharp package's native folder and LibTorch's package
    /// beside it (<see cref="NuGetNativeFolders"/>).</summary>
    static IEnumerable<string> NativeDirectories()
    {
        var rid = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
            foreach (var d in searchDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                yield return d;
        var torchSharp = typeof(torch).Assembly;
        var loc = Path.GetDirectoryName(torchSharp.Location);
        if (!string.IsNullOrEmpty(loc))
        {
            yield return Path.Combine(loc, "runtimes", rid, "native");
            yield return loc;
            yield return Path.GetFullPath(Path.Combine(loc, "..", "..", "runtimes", rid, "native")); // …/torchsharp/<v>/lib/<tfm>/
        }
        var version = torchSharp.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0];
        if (version is null) yield break;
        bool gpuDriver = SystemLibraries.Locate("libcuda.so.1") is not null;
        foreach (var d in NuGetNativeFolders.For(NuGetNativeFolders.PackagesRoot(), version, rid, preferCuda: gpuDriver)) yield return d;
    }

    /// <summary>Records one decision in <see cref="Log"/> (and prints it with <c>CANKIT_LOADER_TRACE=1</c>); also used by
    /// <see cref="OpenMpSettings"/>.</summary>
    internal static void Trace(string line)
    {
        if (clock is { IsRunning: true }) line = $"+{clock.ElapsedMilliseconds} ms: {line}";
        lock (gate) log.Add(line);
        if (Environment.GetEnvironmentVariable("CANKIT_LOADER_TRACE") is "1" or "true")
            Console.Error.WriteLine($"[cankit loader] {line}");
    }
}
