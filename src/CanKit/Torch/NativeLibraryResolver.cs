using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace CanKit;

/// <summary>
/// Finds <c>libcankit_native.so</c>: <c>$CANKIT_NATIVE_LIB</c> if set, else beside CanKit.dll, else beside the
/// entry program. Installed once, before the first native call.
/// </summary>
internal static class NativeLibraryResolver
{
    internal const string FileName = "libcankit_native.so";

    [ModuleInitializer]
    internal static void Install() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Native.Lib) return IntPtr.Zero;
        var tried = new List<string>();
        foreach (string path in Candidates(assembly))
        {
            tried.Add(path);
            if (File.Exists(path)) return NativeLibrary.Load(path);
        }
        throw new DllNotFoundException(
            $"CanKit's native library {FileName} was not found (looked in: {string.Join(", ", tried)}). " +
            "Build it with `dotnet build` (run ./build.sh test once on a new machine) or set CANKIT_NATIVE_LIB to its path.");
    }

    private static IEnumerable<string> Candidates(Assembly assembly)
    {
        string? env = Environment.GetEnvironmentVariable("CANKIT_NATIVE_LIB");
        if (!string.IsNullOrEmpty(env)) yield return env;
        if (!string.IsNullOrEmpty(assembly.Location))
            yield return Path.Combine(Path.GetDirectoryName(assembly.Location)!, FileName);
        yield return Path.Combine(AppContext.BaseDirectory, FileName);
    }
}
