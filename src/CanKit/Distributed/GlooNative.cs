using System.Reflection;
using System.Runtime.InteropServices;

namespace CanKit.Distributed;

/// <summary>
/// The C ABI of <c>libcankit_gloo.so</c> (src/CanKit.Native/gloo_shim.cpp). Every call returns 0 or −1 with a message
/// in the caller's buffer; no exception crosses it. The library is looked up in <c>CANKIT_GLOO_LIBRARY</c> (a path),
/// next to this assembly (the build copies it there), then in the source tree's <c>src/CanKit.Native/bin/</c> above it.
/// </summary>
internal static partial class GlooNative
{
    private const string Lib = "cankit_gloo";
    internal const string FileName = "libcankit_gloo.so";

    static GlooNative() => NativeLibrary.SetDllImportResolver(typeof(GlooNative).Assembly, Resolve);

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return IntPtr.Zero;
        return Locate() is { } file && NativeLibrary.TryLoad(file, out var h) ? h : IntPtr.Zero;
    }

    /// <summary>The library file this process would load, or null when it was not built.</summary>
    internal static string? Locate()
    {
        if (!OperatingSystem.IsLinux()) return null;
        if (Environment.GetEnvironmentVariable("CANKIT_GLOO_LIBRARY") is { Length: > 0 } env) return File.Exists(env) ? env : null;
        string here = Path.GetDirectoryName(typeof(GlooNative).Assembly.Location) is { Length: > 0 } d ? d : AppContext.BaseDirectory;
        string beside = Path.Combine(here, FileName);
        if (File.Exists(beside)) return beside;
        for (var dir = new DirectoryInfo(here); dir is not null; dir = dir.Parent)
        {
            string inTree = Path.Combine(dir.FullName, "src", "CanKit.Native", "bin", FileName);
            if (File.Exists(inTree)) return inTree;
        }
        return null;
    }

    internal const int ErrorLength = 1024;

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial IntPtr ckg_create(string masterAddr, int masterPort, int rank, int size, int timeoutMs, byte* err, int errLen);

    [LibraryImport(Lib)]
    internal static partial void ckg_destroy(IntPtr group);

    [LibraryImport(Lib)]
    internal static unsafe partial int ckg_allreduce_sum(IntPtr group, void* buffer, long count, int dtype, byte* err, int errLen);

    [LibraryImport(Lib)]
    internal static unsafe partial int ckg_broadcast(IntPtr group, void* buffer, long bytes, int root, byte* err, int errLen);

    [LibraryImport(Lib)]
    internal static unsafe partial int ckg_allgather(IntPtr group, void* input, void* output, long bytes, byte* err, int errLen);

    [LibraryImport(Lib)]
    internal static unsafe partial int ckg_barrier(IntPtr group, byte* err, int errLen);
}
