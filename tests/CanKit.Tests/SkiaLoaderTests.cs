using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using CanKit.Data;
using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// SkiaSharpResolver: where it looks for libSkiaSharp (file names per platform, runtimes/&lt;rid&gt;/native folders,
/// order), that its fallback loads a candidate when the runtime's probing fails, and that in this process it is set
/// on SkiaSharp's assembly without changing what loads. The kernel case (a host whose deps.json does not list
/// libSkiaSharp) is checked end to end by tests/kernel/skia_in_kernel.py.
/// </summary>
public class SkiaLoaderTests
{
    static string Current => SkiaSharpResolver.FileName(
        OperatingSystem.IsWindows() ? OSPlatform.Windows : OperatingSystem.IsMacOS() ? OSPlatform.OSX : OSPlatform.Linux);

    /// <summary>The libSkiaSharp of this test build, found with the resolver's own search from the test folder.</summary>
    static string RealLibrary() =>
        SkiaSharpResolver.Find(SkiaSharpResolver.CandidatePaths([AppContext.BaseDirectory], Current, SkiaSharpResolver.RuntimeIdentifiers()))
        ?? throw new FileNotFoundException($"{Current} not found under {AppContext.BaseDirectory} (itself or runtimes/<rid>/native)");

    static void Touch(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, [0x7f, (byte)'E', (byte)'L', (byte)'F']); // exists, but is no loadable library
    }

    [Fact]
    public void File_name_follows_the_platform()
    {
        Assert.Equal("libSkiaSharp.so", SkiaSharpResolver.FileName(OSPlatform.Linux));
        Assert.Equal("libSkiaSharp.dylib", SkiaSharpResolver.FileName(OSPlatform.OSX));
        Assert.Equal("libSkiaSharp.dll", SkiaSharpResolver.FileName(OSPlatform.Windows));
        Assert.Equal("libSkiaSharp.so", SkiaSharpResolver.FileName(OSPlatform.FreeBSD));
    }

    [Fact]
    public void Runtime_identifiers_are_the_runtimes_own_then_the_portable_one()
    {
        Assert.Equal(["linux-x64"], SkiaSharpResolver.RuntimeIdentifiers("linux-x64", OSPlatform.Linux, Architecture.X64, musl: false));
        Assert.Equal(["debian.12-x64", "linux-x64"], SkiaSharpResolver.RuntimeIdentifiers("debian.12-x64", OSPlatform.Linux, Architecture.X64, musl: false));
        Assert.Equal(["linux-musl-arm64"], SkiaSharpResolver.RuntimeIdentifiers("linux-musl-arm64", OSPlatform.Linux, Architecture.Arm64, musl: true));
        Assert.Equal(["osx-arm64", "osx"], SkiaSharpResolver.RuntimeIdentifiers("osx-arm64", OSPlatform.OSX, Architecture.Arm64, musl: false));
        Assert.Equal(["win-x64"], SkiaSharpResolver.RuntimeIdentifiers("win-x64", OSPlatform.Windows, Architecture.X64, musl: false));
        Assert.Equal(["linux-arm64"], SkiaSharpResolver.RuntimeIdentifiers(null, OSPlatform.Linux, Architecture.Arm64, musl: false));
        // This process: its own identifier comes first.
        Assert.Equal(RuntimeInformation.RuntimeIdentifier, SkiaSharpResolver.RuntimeIdentifiers()[0]);
    }

    [Fact]
    public void Candidates_are_each_folder_first_then_its_runtimes_folders_without_duplicates()
    {
        var a = Path.GetFullPath(Path.Combine(Path.GetTempPath(), "a"));
        var b = Path.GetFullPath(Path.Combine(Path.GetTempPath(), "b"));
        var paths = SkiaSharpResolver.CandidatePaths([a, null, "", b, a], "libSkiaSharp.so", ["linux-x64", "linux-arm64"]);
        Assert.Equal(
        [
            Path.Combine(a, "libSkiaSharp.so"),
            Path.Combine(b, "libSkiaSharp.so"),
            Path.Combine(a, "runtimes", "linux-x64", "native", "libSkiaSharp.so"),
            Path.Combine(a, "runtimes", "linux-arm64", "native", "libSkiaSharp.so"),
            Path.Combine(b, "runtimes", "linux-x64", "native", "libSkiaSharp.so"),
            Path.Combine(b, "runtimes", "linux-arm64", "native", "libSkiaSharp.so"),
        ], paths);
    }

    [Fact]
    public void Find_takes_the_runtimes_folder_of_a_portable_build_and_the_folder_itself_of_a_rid_build()
    {
        using var tmp = new LoaderFiles.TempDir();
        var skiaDir = Path.Combine(tmp.Path, "skia");
        var canKitDir = Path.Combine(tmp.Path, "cankit");
        string[] rids = ["linux-x64"];
        var candidates = SkiaSharpResolver.CandidatePaths([skiaDir, canKitDir], "libSkiaSharp.so", rids);

        Assert.Null(SkiaSharpResolver.Find(candidates));

        var portable = Path.Combine(canKitDir, "runtimes", "linux-x64", "native", "libSkiaSharp.so");
        Touch(Path.Combine(canKitDir, "runtimes", "linux-arm64", "native", "libSkiaSharp.so")); // another architecture: ignored
        Touch(Path.Combine(canKitDir, "runtimes", "linux-x64", "native", "libSkiaSharp.dylib")); // another platform's name: ignored
        Touch(portable);
        Assert.Equal(portable, SkiaSharpResolver.Find(candidates));

        var beside = Path.Combine(canKitDir, "libSkiaSharp.so");
        Touch(beside);
        Assert.Equal(beside, SkiaSharpResolver.Find(candidates));

        var besideSkia = Path.Combine(skiaDir, "libSkiaSharp.so");
        Touch(besideSkia);
        Assert.Equal(besideSkia, SkiaSharpResolver.Find(candidates));

        // Windows and macOS names and folders are found the same way.
        var win = Path.Combine(canKitDir, "runtimes", "win-x64", "native", "libSkiaSharp.dll");
        Touch(win);
        Assert.Equal(win, SkiaSharpResolver.Find(SkiaSharpResolver.CandidatePaths([skiaDir, canKitDir], "libSkiaSharp.dll", ["win-x64"])));
        var mac = Path.Combine(canKitDir, "runtimes", "osx", "native", "libSkiaSharp.dylib");
        Touch(mac);
        Assert.Equal(mac, SkiaSharpResolver.Find(SkiaSharpResolver.CandidatePaths([skiaDir, canKitDir], "libSkiaSharp.dylib", ["osx-arm64", "osx"])));
    }

    [Fact]
    public void When_the_runtime_finds_nothing_the_first_candidate_that_loads_is_used()
    {
        using var tmp = new LoaderFiles.TempDir();
        var missing = Path.Combine(tmp.Path, "missing", Current);
        var broken = Path.Combine(tmp.Path, "broken", Current);
        Touch(broken);
        var real = RealLibrary();
        var skia = typeof(SkiaSharp.SKImage).Assembly;
        const string unknown = "cankit-test-no-such-library"; // the runtime's probing cannot find this name

        var handle = SkiaSharpResolver.Resolve(unknown, skia, null, [missing, broken, real], record: false);
        Assert.NotEqual(IntPtr.Zero, handle);
        Assert.Equal(NativeLibrary.Load(real), handle); // the same loaded object: dlopen of one file returns one handle
        Assert.True(NativeLibrary.TryGetExport(handle, "sk_version_get_milestone", out _), "the loaded file is not libSkiaSharp");

        Assert.Equal(IntPtr.Zero, SkiaSharpResolver.Resolve(unknown, skia, null, [missing, broken], record: false));
    }

    [Fact]
    public void A_second_resolver_is_not_set_and_the_first_one_loads_skia()
    {
        // A separate copy of SkiaSharp.dll (its own assembly object, so its own resolver slot and its own P/Invokes).
        var skiaPath = typeof(SkiaSharp.SKImage).Assembly.Location;
        var copy = new AssemblyLoadContext("skia-resolver-test").LoadFromAssemblyPath(skiaPath);
        Assert.NotSame(typeof(SkiaSharp.SKImage).Assembly, copy);

        Assert.Equal(SkiaSharpResolver.Outcome.Installed, SkiaSharpResolver.InstallOn(copy, [RealLibrary()]));
        Assert.Equal(SkiaSharpResolver.Outcome.AlreadySet, SkiaSharpResolver.InstallOn(copy, [RealLibrary()])); // no exception

        // The copy's first P/Invoke goes through the resolver (which asks the runtime first, without recursing into itself).
        var native = copy.GetType("SkiaSharp.SkiaSharpVersion", throwOnError: true)!
            .GetProperty("Native", BindingFlags.Public | BindingFlags.Static)!.GetValue(null);
        Assert.Equal(SkiaSharp.SkiaSharpVersion.Native, native);
    }

    [Fact]
    public void In_this_process_the_resolver_is_set_and_skia_loads_as_before()
    {
        Assert.Equal(SkiaSharpResolver.Outcome.Installed, SkiaSharpResolver.LastOutcome);
        SkiaSharpResolver.Install(); // idempotent
        Assert.Equal(SkiaSharpResolver.Outcome.Installed, SkiaSharpResolver.LastOutcome);
        // Only a resolver already in place makes a second one throw.
        Assert.Throws<InvalidOperationException>(() =>
            NativeLibrary.SetDllImportResolver(typeof(SkiaSharp.SKImage).Assembly, (_, _, _) => IntPtr.Zero));

        using var image = torch.arange(0, 2 * 3 * 3, dtype: ScalarType.Int32).mul(13).remainder(256).to(ScalarType.Byte).reshape(3, 2, 3);
        using var back = ImageCodec.Decode(ImageCodec.EncodePng(image), "round-trip.png");
        Assert.Equal(image.shape, back.shape);
        Assert.Equal(image.data<byte>().ToArray(), back.data<byte>().ToArray());

        // The resolver was asked and answered: by the runtime's probing here (the test host's deps.json lists the file),
        // or with a candidate (then ResolvedPath says which).
        var lines = TorchSharpLoader.Log.Where(l => l.Contains("libSkiaSharp: ")).ToList();
        Assert.True(lines.Any(l => l.Contains("found by the runtime's probing")) || SkiaSharpResolver.ResolvedPath is not null,
                    string.Join("\n", TorchSharpLoader.Log));
    }
}
