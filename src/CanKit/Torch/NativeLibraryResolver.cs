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

    // A library's module initializer on purpose: the resolver must be in place before the first P/Invoke of any
    // application that uses CanKit.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Install() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// Thread settings that must be in the native environment before libtorch (and with it libgomp) loads.
    /// OpenMP threads that busy-wait long after each parallel op steal the cores from OpenBLAS's own GEMM threads:
    /// measured on 2 cores, a [4096×192]·[192×576] linear layer ran at 66 GFLOP/s with libgomp's active wait policy and
    /// at 191 GFLOP/s with a passive one (docs/threads.md). Waking a sleeping OpenMP thread for every parallel op costs
    /// too, though (a futex round trip, hundreds of parallel ops per step), so CanKit lets idle OpenMP threads spin
    /// briefly: GOMP_SPINCOUNT=10000 (~0.1 ms), then sleep. Eight alternating process pairs of the reference CAN step:
    /// median 1.12× faster than sleeping at once (docs/threads.md). OpenBLAS's idle GEMM threads spin on sched_yield
    /// for 2^28 cycles (~0.1 s) after each GEMM, taking a core from the elementwise ops between GEMMs;
    /// OPENBLAS_THREAD_TIMEOUT=4 makes them sleep at once: the reference CAN step went from 1307–1340 ms to
    /// 1083–1196 ms and its kernel time from 4.8 s to 1.6 s per run (docs/performance.md). A wait policy or spin count
    /// the user set is kept (OMP_WAIT_POLICY=PASSIVE restores sleeping at once), as is OPENBLAS_THREAD_TIMEOUT.
    /// </summary>
    internal static void PrepareEnvironment()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
                SetEnv("GOMP_SPINCOUNT", SpinCount, overwrite: 0);
            SetEnv("OPENBLAS_THREAD_TIMEOUT", "4", overwrite: 0);
        }
        PreloadOpenMpBlas();
    }

    /// <summary>
    /// Where Debian's OpenMP build of OpenBLAS (package libopenblas0-openmp) lives on this architecture, or null
    /// off Linux or on an architecture without a Debian multiarch name here.
    /// </summary>
    internal static string? OpenMpBlasDirectory()
    {
        if (!OperatingSystem.IsLinux()) return null;
        string? triplet = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x86_64-linux-gnu",
            Architecture.Arm64 => "aarch64-linux-gnu",
            _ => null,
        };
        return triplet is null ? null : $"/usr/lib/{triplet}/openblas-openmp";
    }

    /// <summary>
    /// libtorch runs its own parallel loops (and oneDNN's) on libgomp's OpenMP threads but its GEMMs in OpenBLAS; the
    /// pthread build of OpenBLAS keeps a second pool of threads that competes with the first for the same cores. When
    /// Debian's OpenMP build is installed, CanKit loads it first, so libtorch's libblas.so.3 resolves to it (the loader
    /// matches an already loaded soname) and every GEMM runs on the one OpenMP pool. Side by side on 2 cores
    /// (`cankit bench threads --step --env "CANKIT_BLAS=system"` and its forerunners, 5 runs of 10–12 rounds): the
    /// reference CAN step 1.03–1.06× faster (docs/threads.md). CANKIT_BLAS=system keeps the system's libblas.so.3.
    /// </summary>
    private static void PreloadOpenMpBlas()
    {
        string? choice = Environment.GetEnvironmentVariable("CANKIT_BLAS");
        if (choice is not (null or "" or "openmp" or "system"))
            throw new ArgumentException($"CANKIT_BLAS must be 'openmp' or 'system' (got '{choice}')");
        if (choice == "system" || OpenMpBlasDirectory() is not string dir) return;
        string[] libs = ["libopenblas.so.0", "libblas.so.3", "liblapack.so.3"];
        if (!libs.All(l => File.Exists(Path.Combine(dir, l))))
        {
            if (choice == "openmp")
                throw new DllNotFoundException($"CANKIT_BLAS=openmp: Debian's OpenMP OpenBLAS is not installed in {dir} (apt-get install libopenblas0-openmp)");
            return;
        }
        foreach (string l in libs) NativeLibrary.Load(Path.Combine(dir, l));
    }

    /// <summary>Iterations an idle OpenMP (libgomp) thread spins before it sleeps, unless the user chose otherwise.</summary>
    internal const string SpinCount = Torch.OpenMpSpinCount;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Native.Lib) return IntPtr.Zero;
        PrepareEnvironment();
        var tried = new List<string>();
        foreach (string path in Candidates(assembly))
        {
            tried.Add(path);
            if (!File.Exists(path)) continue;
            IntPtr handle = NativeLibrary.Load(path);
            LoadCudaBackend();
            return handle;
        }
        throw new DllNotFoundException(
            $"CanKit's native library {FileName} was not found (looked in: {string.Join(", ", tried)}). " +
            "Build it with `dotnet build` (run ./build.sh test once on a new machine) or set CANKIT_NATIVE_LIB to its path.");
    }

    // A CUDA libtorch registers its GPU kernels from libtorch_cuda.so, and nothing in the native layer calls into that
    // library, so a linker that drops unused dependencies (--as-needed) can leave it unloaded: CUDA would then look
    // absent. Loading it beside the libtorch_cpu.so in use makes sure it is there; CPU builds have no such file.
    private static void LoadCudaBackend()
    {
        if (LoadedLibraryPath(name => name.StartsWith("libtorch_cpu.so", StringComparison.Ordinal)) is not string cpu) return;
        string cuda = Path.Combine(Path.GetDirectoryName(cpu)!, "libtorch_cuda.so");
        if (File.Exists(cuda)) NativeLibrary.TryLoad(cuda, out _);
    }

    /// <summary>The path of a shared library mapped into this process whose file name matches, from /proc/self/maps
    /// (null where there is none, or no /proc).</summary>
    internal static string? LoadedLibraryPath(Func<string, bool> fileNameMatches)
    {
        if (!File.Exists("/proc/self/maps")) return null;
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/');
            if (slash >= 0 && fileNameMatches(Path.GetFileName(line.AsSpan(slash)).ToString())) return line[slash..];
        }
        return null;
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
