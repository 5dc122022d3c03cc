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

    /// <summary>
    /// The file libtorch's BLAS (<c>libblas.so.3</c>) was loaded from in this process, or null where that cannot be
    /// read (off Linux). CanKit loads Debian's OpenMP build of OpenBLAS when it is installed and CANKIT_BLAS is not
    /// <c>system</c> (docs/threads.md).
    /// </summary>
    public static string? BlasLibrary
    {
        get
        {
            EnsureInitialised();
            return NativeLibraryResolver.LoadedLibraryPath(name => name == "libblas.so.3");
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

    /// <summary>
    /// Peak bytes allocated by tensors and reserved by libtorch's caching allocator on a CUDA device since the process
    /// started (as PyTorch's max_memory_allocated / max_memory_reserved); null where the native layer was built
    /// against a libtorch without CUDA or without those statistics.
    /// </summary>
    public static unsafe (long Allocated, long Reserved)? CudaPeakMemory(int device = 0)
    {
        if (device < 0) throw new ArgumentOutOfRangeException(nameof(device), device, "must be ≥ 0");
        long* o = stackalloc long[2];
        int r = Native.ck_cuda_peak_memory(device, o);
        if (r < 0) NativeCheck.Status(r, nameof(CudaPeakMemory));
        return r == 1 ? (o[0], o[1]) : null;
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

    /// <summary>
    /// GOMP_SPINCOUNT CanKit puts into the native environment before libtorch loads, unless OMP_WAIT_POLICY or
    /// GOMP_SPINCOUNT is already set: idle OpenMP threads spin this many iterations (~0.1 ms) before sleeping
    /// (docs/threads.md). Child processes that should run with CanKit's thread settings can be given it.
    /// </summary>
    public const string OpenMpSpinCount = "10000";

    /// <summary>Disables gradient recording on this thread until the returned scope is disposed.</summary>
    public static GradModeScope NoGrad() => new(false);

    /// <summary>Runs eligible ops on <paramref name="device"/>'s type in <paramref name="dtype"/> until disposed (mixed precision).</summary>
    public static AutocastScope Autocast(Device device, DType dtype = DType.BFloat16) => new(device, dtype);

    /// <summary>Re-enables gradient recording inside a no-grad region.</summary>
    public static GradModeScope EnableGrad() => new(true);

    public static bool IsGradEnabled => Native.ck_grad_enabled() != 0;

    /// <summary>
    /// Whether <see cref="Nn.Functional.SelfAttention"/> (every ViT block's attention) uses the fused CPU kernel
    /// for float32/float64: per-head BLAS products straight on the packed qkv buffer, spread over the intra-op
    /// threads (docs/performance.md). On by default; off composes it from libtorch ops (benchmarks compare both).
    /// Process-wide.
    /// </summary>
    public static bool FusedAttention
    {
        get { EnsureInitialised(); return Native.ck_set_fused_attention(-1) != 0; }
        set { EnsureInitialised(); Native.ck_set_fused_attention(value ? 1 : 0); }
    }

    /// <summary>
    /// Whether the fused CPU attention computes its float32 per-head products with CanKit's AVX2/FMA kernel (on by
    /// default, used when the CPU has AVX2 and FMA and sequences and heads are at most 256 wide) instead of one
    /// BLAS call per product. Process-wide; benchmarks and tests compare both.
    /// </summary>
    public static bool AttentionKernel
    {
        get { EnsureInitialised(); return Native.ck_set_attention_kernel(-1) != 0; }
        set { EnsureInitialised(); Native.ck_set_attention_kernel(value ? 1 : 0); }
    }

    /// <summary>
    /// Whether float32 linear layers on CPU run their forward product and input gradient on oneDNN's matmul (the
    /// weight gradient stays on BLAS), where that is faster for a ViT's shapes (docs/performance.md); the ViT's patch
    /// projection then also runs as such a product on the patchified images instead of a strided convolution. On by default
    /// when the native layer was built with oneDNN's headers (Debian libdnnl-dev); <see cref="DnnlLinearAvailable"/>
    /// says whether it was. Process-wide; benchmarks and tests compare both.
    /// </summary>
    public static bool DnnlLinear
    {
        get => GetSwitch(Native.ck_set_dnnl_linear);
        set => SetSwitch(Native.ck_set_dnnl_linear, value, "the native layer was built without oneDNN's headers (install libdnnl-dev and rebuild)");
    }

    /// <summary>
    /// Whether <see cref="Nn.Functional.LinearGelu"/> (every ViT MLP's fc1 and GELU) runs fused for float32 on CPU: one
    /// pass after the product writes GELU(h) and keeps GELU′(h) for the backward, whose one pass also sums the bias
    /// gradient (docs/performance.md). On by default where the CPU has AVX2 and FMA (<see cref="FusedLinearGeluAvailable"/>);
    /// off it is libtorch's linear and gelu. Process-wide; benchmarks and tests compare both.
    /// </summary>
    public static bool FusedLinearGelu
    {
        get => GetSwitch(Native.ck_set_linear_gelu);
        set => SetSwitch(Native.ck_set_linear_gelu, value, "the fused Linear + GELU needs a CPU with AVX2 and FMA");
    }

    /// <summary>
    /// Whether float32 layer norms over the last dimension with a weight and bias (every ViT norm) run CanKit's own
    /// one-pass-per-row kernels on CPUs with AVX2, fused with the residual add in front of a block's second norm
    /// (<see cref="Nn.Functional.AddLayerNorm"/>). On by default there; off it is libtorch's add and layer_norm.
    /// Process-wide; benchmarks and tests compare both.
    /// </summary>
    public static bool FusedLayerNorm
    {
        get => GetSwitch(Native.ck_set_fused_layer_norm);
        set => SetSwitch(Native.ck_set_fused_layer_norm, value, "the fused layer norm needs a CPU with AVX2 and FMA");
    }

    // The native switches answer −1 where the feature is not in this build or CPU, else the previous setting;
    // asked with −1 they only read it.
    private static bool GetSwitch(Func<int, int> native)
    {
        EnsureInitialised();
        return native(-1) == 1;
    }

    private static void SetSwitch(Func<int, int> native, bool value, string unavailable)
    {
        EnsureInitialised();
        if (native(value ? 1 : 0) < 0 && value) throw new InvalidOperationException(unavailable);
    }

    /// <summary>Whether this CPU and build can run <see cref="FusedLinearGelu"/>.</summary>
    public static bool FusedLinearGeluAvailable { get { EnsureInitialised(); return Native.ck_set_linear_gelu(-1) >= 0; } }

    /// <summary>Whether the native layer was built with oneDNN (see <see cref="DnnlLinear"/>).</summary>
    public static bool DnnlLinearAvailable { get { EnsureInitialised(); return Native.ck_set_dnnl_linear(-1) >= 0; } }

    /// <summary>Whether <see cref="Nn.Functional.SelfAttention"/> takes the fused path for this tensor (CPU, float32/64, BLAS visible).</summary>
    public static bool FusedAttentionApplies(Tensor qkv)
    {
        int r = Native.ck_self_attention_fused(qkv.H);
        if (r < 0) NativeCheck.Status(r, nameof(FusedAttentionApplies));
        return r == 1;
    }

    /// <summary>
    /// The CPU allocator's counters. CanKit installs a caching allocator for libtorch's CPU tensors when it loads:
    /// freed blocks of 64 KiB and more are kept and reused, so a training step does not fault in fresh pages for
    /// its activations every time (docs/performance.md). The cache is bounded (a quarter of physical memory, at
    /// most 4 GiB; <c>CANKIT_CPU_CACHE_MB</c> sets it); <c>CANKIT_CPU_ALLOCATOR=system</c> keeps libtorch's own.
    /// </summary>
    public static unsafe CpuAllocatorStats CpuAllocator
    {
        get
        {
            EnsureInitialised();
            long* s = stackalloc long[5];
            NativeCheck.Status(Native.ck_cpu_allocator_stats(s), nameof(CpuAllocator));
            return new CpuAllocatorStats(s[0] != 0, s[1], s[2], s[3], s[4]);
        }
    }

    /// <summary>
    /// Whether the caching CPU allocator reuses freed blocks (on by default). Off, every block is fresh and freed at
    /// once, as with libtorch's default allocator; benchmarks compare both. Setting it when the allocator is not
    /// installed (<c>CANKIT_CPU_ALLOCATOR=system</c>) throws.
    /// </summary>
    public static bool CpuCaching
    {
        get { EnsureInitialised(); return Native.ck_cpu_allocator_caching(-1) == 1; }
        set
        {
            EnsureInitialised();
            if (Native.ck_cpu_allocator_caching(value ? 1 : 0) < 0)
                throw new InvalidOperationException("the caching CPU allocator is not installed (CANKIT_CPU_ALLOCATOR=system)");
        }
    }

    /// <summary>Returns every block the CPU allocator has cached to the system.</summary>
    public static void EmptyCpuCache()
    {
        EnsureInitialised();
        NativeCheck.Status(Native.ck_cpu_allocator_empty_cache(), nameof(EmptyCpuCache));
    }

    /// <summary>
    /// Sets a process-wide engine switch until the returned scope is disposed, then restores the value it had:
    /// <c>using (Torch.Override(EngineSetting.FusedAttention, false)) { … }</c>. Benchmarks and tests use it to
    /// compare each fast path with its fallback.
    /// </summary>
    public static EngineSettingScope Override(EngineSetting setting, bool value) => new(setting, value);

    internal static bool Get(EngineSetting setting) => setting switch
    {
        EngineSetting.FusedAttention => FusedAttention,
        EngineSetting.AttentionKernel => AttentionKernel,
        EngineSetting.DnnlLinear => DnnlLinear,
        EngineSetting.CpuCaching => CpuCaching,
        EngineSetting.FusedLinearGelu => FusedLinearGelu,
        EngineSetting.FusedLayerNorm => FusedLayerNorm,
        _ => throw new ArgumentOutOfRangeException(nameof(setting), setting, "unknown engine setting"),
    };

    internal static void Set(EngineSetting setting, bool value)
    {
        switch (setting)
        {
            case EngineSetting.FusedAttention: FusedAttention = value; break;
            case EngineSetting.AttentionKernel: AttentionKernel = value; break;
            case EngineSetting.DnnlLinear: DnnlLinear = value; break;
            case EngineSetting.CpuCaching: CpuCaching = value; break;
            case EngineSetting.FusedLinearGelu: FusedLinearGelu = value; break;
            case EngineSetting.FusedLayerNorm: FusedLayerNorm = value; break;
            default: throw new ArgumentOutOfRangeException(nameof(setting), setting, "unknown engine setting");
        }
    }

    /// <summary>Records libtorch's ops on this thread until disposed, then writes a Chrome trace to <paramref name="path"/>
    /// (<see cref="ProfileSummary.Read"/> tabulates it). One profile at a time per process.</summary>
    public static ProfileScope Profile(string path) => new(path);

    /// <summary>Native tensor handles currently alive (created and not yet disposed or finalised): a leak detector.</summary>
    public static long LiveTensorHandles => Native.ck_live_handles();
}

/// <summary>The process-wide engine switches <see cref="Torch.Override"/> can set for a scope.</summary>
public enum EngineSetting
{
    /// <summary><see cref="Torch.FusedAttention"/></summary>
    FusedAttention,
    /// <summary><see cref="Torch.AttentionKernel"/></summary>
    AttentionKernel,
    /// <summary><see cref="Torch.DnnlLinear"/></summary>
    DnnlLinear,
    /// <summary><see cref="Torch.CpuCaching"/></summary>
    CpuCaching,
    /// <summary><see cref="Torch.FusedLinearGelu"/></summary>
    FusedLinearGelu,
    /// <summary><see cref="Torch.FusedLayerNorm"/></summary>
    FusedLayerNorm,
}

/// <summary>Restores an engine switch set by <see cref="Torch.Override"/> when disposed.</summary>
public sealed class EngineSettingScope : IDisposable
{
    private readonly EngineSetting _setting;
    private readonly bool _previous;
    private bool _disposed;

    internal EngineSettingScope(EngineSetting setting, bool value)
    {
        _setting = setting;
        _previous = Torch.Get(setting);
        Torch.Set(setting, value);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Torch.Set(_setting, _previous);
    }
}

/// <summary>Counters of CanKit's caching CPU allocator (<see cref="Torch.CpuAllocator"/>): whether it is installed,
/// bytes held free for reuse, bytes handed out through it, and how many large requests reused a block (hits) or
/// needed a new one (misses).</summary>
public readonly record struct CpuAllocatorStats(bool Caching, long CachedBytes, long InUseBytes, long Hits, long Misses);

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
