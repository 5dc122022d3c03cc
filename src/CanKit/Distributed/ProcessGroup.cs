using System.Globalization;
using System.Runtime.InteropServices;

namespace CanKit.Distributed;

/// <summary>A collective failed: a peer died, stopped answering within the timeout, or the rendezvous failed.</summary>
public sealed class DistributedException(string message) : IOException(message);

/// <summary>
/// <see cref="WorldSize"/> processes that met through rank 0's TCP store on MASTER_ADDR:MASTER_PORT and run
/// collectives over Gloo (libcankit_gloo, Linux only) on the CPU buffers of float32/float64 tensors. Every collective
/// waits at most <see cref="Timeout"/>; a peer that died or stopped answering becomes a
/// <see cref="DistributedException"/> naming the operation and this rank, never a hang. Collectives must be called by
/// every rank in the same order. After a failed collective the group is unusable: dispose it.
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    private IntPtr _handle;
    private DistributedException? _failure;

    /// <summary>This process's index in [0, WorldSize).</summary>
    public int Rank { get; }
    public int WorldSize { get; }
    public TimeSpan Timeout { get; }

    private ProcessGroup(IntPtr handle, int rank, int worldSize, TimeSpan timeout) =>
        (_handle, Rank, WorldSize, Timeout) = (handle, rank, worldSize, timeout);

    /// <summary>Null when libcankit_gloo can be loaded here, else why not (not built, not Linux).</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux()) return "data-parallel training is Linux-only (Gloo's TCP transport as Debian ships it)";
        if (GlooNative.Locate() is null)
            return $"{GlooNative.FileName} was not built: install g++ and libgloo-dev (tools/install-deps.sh g++ libgloo-dev) " +
                   "and run src/CanKit.Native/build.sh (./build.sh does)";
        return null;
    }

    /// <summary>
    /// Joins a group of <paramref name="worldSize"/> ranks. Rank 0 hosts the rendezvous store on port
    /// <paramref name="masterPort"/> of every interface; all ranks connect to <paramref name="masterAddress"/>. The
    /// rendezvous and every later collective wait at most <paramref name="timeout"/> (default 5 minutes).
    /// </summary>
    public static unsafe ProcessGroup Create(string masterAddress, int masterPort, int rank, int worldSize, TimeSpan? timeout = null)
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "must be ≥ 1");
        if (rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"must be in [0, {worldSize})");
        if (masterPort is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(masterPort), masterPort, "must be in 1…65535");
        var t = timeout ?? TimeSpan.FromMinutes(5);
        if (t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), t, "must be > 0");
        if (Unavailable() is { } why) throw new NotSupportedException(why);
        var err = stackalloc byte[GlooNative.ErrorLength];
        err[0] = 0;
        var h = GlooNative.ckg_create(masterAddress, masterPort, rank, worldSize,
                                      (int)Math.Min(int.MaxValue, t.TotalMilliseconds), err, GlooNative.ErrorLength);
        if (h == IntPtr.Zero)
            throw new DistributedException($"rank {rank} of {worldSize} could not join the group at {masterAddress}:{masterPort}: {Text(err)}");
        return new ProcessGroup(h, rank, worldSize, t);
    }

    /// <summary>True when torchrun-style variables describe a group of more than one process (WORLD_SIZE &gt; 1).</summary>
    public static bool InEnvironment() => int.TryParse(Environment.GetEnvironmentVariable("WORLD_SIZE"), out int w) && w > 1;

    /// <summary>
    /// Joins the group torchrun's variables describe: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE (and CANKIT_DIST_TIMEOUT
    /// in seconds, default 300). A missing or malformed variable is an error naming it.
    /// </summary>
    public static ProcessGroup FromEnvironment(TimeSpan? timeout = null)
    {
        static string Need(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v
            : throw new ArgumentException($"environment variable {name} is not set " +
                                          "(expected MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, " +
                                          "as `cankit pretrain --nproc` or torchrun set them)");
        static int Int(string name) => int.TryParse(Need(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new ArgumentException($"environment variable {name}='{Need(name)}' is not an integer");
        if (timeout is null && Environment.GetEnvironmentVariable("CANKIT_DIST_TIMEOUT") is { Length: > 0 } text)
            timeout = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 && double.IsFinite(s)
                ? TimeSpan.FromSeconds(s)
                : throw new ArgumentException($"environment variable CANKIT_DIST_TIMEOUT='{text}' is not a number of seconds > 0");
        int world = Int("WORLD_SIZE"), rank = Int("RANK"), port = Int("MASTER_PORT");
        if (rank < 0 || rank >= world) throw new ArgumentException($"environment variable RANK={rank} is outside [0, WORLD_SIZE={world})");
        if (port is < 1 or > 65535) throw new ArgumentException($"environment variable MASTER_PORT={port} is outside 1…65535");
        return Create(Need("MASTER_ADDR"), port, rank, world, timeout);
    }

    private IntPtr H => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException(nameof(ProcessGroup));

    private static unsafe string Text(byte* err) => Marshal.PtrToStringUTF8((IntPtr)err) is { Length: > 0 } s ? s : "no message";

    private unsafe delegate int Call(byte* err, int len);

    // A failed collective leaves Gloo's connections closed: every later call repeats the first failure.
    private unsafe void Check(string op, Call call)
    {
        ThrowIfFailed();
        var err = stackalloc byte[GlooNative.ErrorLength];
        err[0] = 0;
        if (call(err, GlooNative.ErrorLength) != 0)
        {
            _failure = new DistributedException($"{op} failed on rank {Rank} of {WorldSize}: {Text(err)} " +
                                                $"(a peer process died or did not answer within {Timeout.TotalSeconds:0.#} s)");
            throw _failure;
        }
    }

    /// <summary>
    /// Throws the first failure of this group again, if there was one. An exception cannot leave an autograd backward
    /// (it would cross LibTorch's engine), so <see cref="AllGatherWithGrad"/>'s backward records the failure and the
    /// next collective, or this call, reports it.
    /// </summary>
    public void ThrowIfFailed()
    {
        if (_failure is not null) throw new DistributedException(_failure.Message);
    }

    // A collective works on the tensor's own CPU memory: contiguous, on the CPU.
    private static void CheckBuffer(Tensor t, string op, params ScalarType[] dtypes)
    {
        if (t.device_type != DeviceType.CPU)
            throw new NotSupportedException($"{op}: Gloo collectives here take CPU tensors, got {t.device} (NCCL is not built)");
        if (!t.is_contiguous()) throw new ArgumentException($"{op}: the tensor must be contiguous");
        if (dtypes.Length > 0 && !dtypes.Contains(t.dtype))
            throw new ArgumentException($"{op}: dtype {t.dtype} is not supported (expected {string.Join(" or ", dtypes)})");
    }

    /// <summary>Sums <paramref name="t"/> (float32 or float64, contiguous CPU) over all ranks, in place.</summary>
    public unsafe void AllReduceSum(Tensor t)
    {
        CheckBuffer(t, "all-reduce", ScalarType.Float32, ScalarType.Float64);
        if (WorldSize == 1 || t.numel() == 0) return;
        int dtype = t.dtype == ScalarType.Float32 ? 0 : 1;
        fixed (byte* p = t.bytes)
        {
            void* ptr = p;
            Check("all-reduce", (err, len) => GlooNative.ckg_allreduce_sum(H, ptr, t.numel(), dtype, err, len));
        }
    }

    /// <summary>Overwrites <paramref name="t"/> (any dtype, contiguous CPU) with rank <paramref name="root"/>'s, in place.</summary>
    public unsafe void Broadcast(Tensor t, int root = 0)
    {
        CheckBuffer(t, "broadcast");
        if (root < 0 || root >= WorldSize) throw new ArgumentOutOfRangeException(nameof(root), root, $"must be in [0, {WorldSize})");
        if (WorldSize == 1 || t.numel() == 0) return;
        fixed (byte* p = t.bytes)
        {
            void* ptr = p;
            long bytes = t.numel() * t.ElementSize;
            Check("broadcast", (err, len) => GlooNative.ckg_broadcast(H, ptr, bytes, root, err, len));
        }
    }

    /// <summary>
    /// Every rank's <paramref name="t"/> [n, …] (the same shape on all ranks), stacked in rank order: [W·n, …].
    /// No gradient (see <see cref="AllGatherWithGrad"/>).
    /// </summary>
    public unsafe Tensor AllGather(Tensor t)
    {
        using var input = t.detach().contiguous();
        CheckBuffer(input, "all-gather");
        var shape = input.shape.ToArray();
        shape[0] *= WorldSize;
        var output = torch.empty(shape, input.dtype, input.device);
        if (WorldSize == 1) return output.copy_(input);
        if (input.numel() == 0) return output;
        try
        {
            fixed (byte* pi = input.bytes)
            fixed (byte* po = output.bytes)
            {
                void* a = pi, b = po;
                long bytes = input.numel() * input.ElementSize;
                Check("all-gather", (err, len) => GlooNative.ckg_allgather(H, a, b, bytes, err, len));
            }
        }
        catch
        {
            output.Dispose();
            throw;
        }
        return output;
    }

    /// <summary>
    /// <see cref="AllGather"/> that carries a gradient, for a loss over every rank's samples (global negatives): the
    /// backward sums the incoming gradient over ranks and keeps this rank's rows [Rank·n, (Rank+1)·n) — the gradient of
    /// Σ_r L_r with respect to this rank's input. Every rank must run backward (the backward is itself a collective).
    /// </summary>
    public Tensor AllGatherWithGrad(Tensor t) => WorldSize == 1 ? t.alias() : AllGatherFunction.Apply(this, t);

    /// <summary>Returns when every rank has reached it (or throws after <see cref="Timeout"/>).</summary>
    public unsafe void Barrier()
    {
        if (WorldSize == 1) return;
        Check("barrier", (err, len) => GlooNative.ckg_barrier(H, err, len));
    }

    public void Dispose()
    {
        if (_handle == IntPtr.Zero) return;
        GlooNative.ckg_destroy(_handle);
        _handle = IntPtr.Zero;
    }
}
