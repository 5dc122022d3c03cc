using System.Runtime.InteropServices;

namespace CanKit;

/// <summary>Process-wide engine settings and scopes: threads, seeds, devices, dispose and no-grad scopes.</summary>
public static class Torch
{
    private static volatile bool _initialised;
    private static readonly object InitLock = new();

    /// <summary>
    /// Applies the thread setting once per process: <c>CANKIT_NUM_THREADS</c> if set, else one intra-op thread
    /// per core (libtorch's Debian build defaults to 1). See docs/threads.md for the measurements behind it.
    /// </summary>
    public static void EnsureInitialised()
    {
        if (_initialised) return;
        lock (InitLock)
        {
            if (_initialised) return;
            string? env = Environment.GetEnvironmentVariable("CANKIT_NUM_THREADS");
            int n = int.TryParse(env, out int v) && v > 0 ? v : Environment.ProcessorCount;
            NativeCheck.Status(Native.ck_set_num_threads(n), "SetNumThreads");
            _initialised = true;
        }
    }

    /// <summary>Intra-op threads libtorch uses for one op.</summary>
    public static int NumThreads
    {
        get
        {
            EnsureInitialised();
            return Native.ck_get_num_threads();
        }
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(NumThreads), value, "must be ≥ 1");
            EnsureInitialised();
            NativeCheck.Status(Native.ck_set_num_threads(value), nameof(NumThreads));
        }
    }

    /// <summary>libtorch's description of its parallel backend and thread settings.</summary>
    public static string ParallelInfo
    {
        get
        {
            IntPtr p = Native.ck_parallel_info();
            if (p == IntPtr.Zero) throw new TorchException(nameof(ParallelInfo), NativeCheck.TakeError() ?? "unavailable");
            try { return Marshal.PtrToStringUTF8(p)!; }
            finally { Native.ck_free_string(p); }
        }
    }

    /// <summary>The libtorch version the native layer was compiled against.</summary>
    public static Version LibTorchVersion => new(Native.ck_torch_version_major(), Native.ck_torch_version_minor());

    /// <summary>Seeds libtorch's global generators (those used when no <see cref="Generator"/> is passed).</summary>
    public static void ManualSeed(ulong seed) => NativeCheck.Status(Native.ck_manual_seed(seed), nameof(ManualSeed));

    /// <summary>
    /// Whether this CPU has native bf16 dot products (avx512_bf16 or AMX), where bf16 autocast pays off
    /// (2.3× on the reference CAN step, docs/performance.md). False when it cannot be told.
    /// </summary>
    public static bool CpuHasBf16 { get; } = ReadCpuBf16();

    private static bool ReadCpuBf16()
    {
        try
        {
            return File.Exists("/proc/cpuinfo") && File.ReadLines("/proc/cpuinfo")
                .Where(l => l.StartsWith("flags", StringComparison.Ordinal))
                .Any(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(f => f is "avx512_bf16" or "amx_bf16"));
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static bool CudaIsAvailable => Native.ck_cuda_is_available() != 0;
    public static int CudaDeviceCount => Native.ck_cuda_device_count();

    /// <summary>Waits for queued CUDA work on a device (all devices with -1). No-op without CUDA.</summary>
    public static void CudaSynchronize(int index = -1)
    {
        if (CudaIsAvailable) NativeCheck.Status(Native.ck_cuda_synchronize(index), nameof(CudaSynchronize));
    }

    /// <summary>CPU plus every visible CUDA device.</summary>
    public static IReadOnlyList<Device> AvailableDevices()
    {
        var list = new List<Device> { Device.Cpu };
        for (int i = 0; i < CudaDeviceCount; i++) list.Add(Device.Cuda(i));
        return list;
    }

    /// <summary>Opens a scope that disposes every tensor created in it (see <see cref="DisposeScope"/>).</summary>
    public static DisposeScope NewDisposeScope()
    {
        EnsureInitialised();
        return new DisposeScope();
    }

    /// <summary>Disables gradient recording on this thread until the returned scope is disposed.</summary>
    public static GradModeScope NoGrad() => new(false);

    /// <summary>Runs eligible ops on <paramref name="device"/>'s type in <paramref name="dtype"/> until disposed (mixed precision).</summary>
    public static AutocastScope Autocast(Device device, DType dtype = DType.BFloat16) => new(device, dtype);

    /// <summary>Re-enables gradient recording inside a no-grad region.</summary>
    public static GradModeScope EnableGrad() => new(true);

    public static bool IsGradEnabled => Native.ck_grad_enabled() != 0;

    /// <summary>Native tensor handles currently alive (created and not yet disposed or finalised): a leak detector.</summary>
    public static long LiveTensorHandles => Native.ck_live_handles();
}

/// <summary>Sets libtorch's thread-local grad mode and restores the previous mode on dispose.</summary>
public readonly struct GradModeScope : IDisposable
{
    private readonly bool _previous;

    internal GradModeScope(bool enabled)
    {
        _previous = Native.ck_grad_enabled() != 0;
        Native.ck_set_grad_enabled(enabled ? 1 : 0);
    }

    public void Dispose() => Native.ck_set_grad_enabled(_previous ? 1 : 0);
}
