using System.Globalization;

namespace CanKit.Distributed;

/// <summary>
/// A torch.distributed (c10d) process group: <see cref="WorldSize"/> processes that meet through a TCPStore hosted
/// by rank 0 and run collectives over Gloo (CPU tensors) or NCCL (CUDA tensors). Every collective waits at most
/// <see cref="Timeout"/>; a peer that died or stopped responding turns into a <see cref="TorchException"/> naming
/// the operation and this rank, never a hang. Collectives must be called by every rank in the same order.
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    private readonly GroupHandle _h;

    /// <summary>This process's index in [0, WorldSize).</summary>
    public int Rank { get; }
    public int WorldSize { get; }
    public string Backend { get; }
    public TimeSpan Timeout { get; }

    private ProcessGroup(GroupHandle h, string backend, TimeSpan timeout)
    {
        _h = h;
        (Rank, WorldSize, Backend, Timeout) = (Native.ck_group_rank(h), Native.ck_group_size(h), backend, timeout);
    }

    /// <summary>True when the native layer was built with <paramref name="backend"/> ("gloo" or "nccl").</summary>
    public static bool IsAvailable(string backend = "gloo") => Native.ck_dist_has_backend(backend) != 0;

    /// <summary>
    /// Joins a group. Rank 0 hosts the rendezvous store on <paramref name="masterAddress"/>:<paramref name="masterPort"/>
    /// and waits for the others; all ranks wait at most <paramref name="timeout"/> (default 5 minutes) for it.
    /// </summary>
    public static ProcessGroup Create(string backend, string masterAddress, int masterPort, int rank, int worldSize, TimeSpan? timeout = null)
    {
        var t = timeout ?? TimeSpan.FromMinutes(5);
        var h = Native.ck_group_new(backend, masterAddress, masterPort, rank, worldSize, (long)t.TotalMilliseconds);
        if (h.IsInvalid)
        {
            h.Dispose();
            throw new TorchException("ProcessGroup.Create",
                $"rank {rank} of {worldSize} could not join the {backend} group at {masterAddress}:{masterPort}: {NativeCheck.TakeError() ?? "no message"}");
        }
        return new ProcessGroup(h, backend, t);
    }

    /// <summary>True when torchrun-style variables describe a group of more than one process (WORLD_SIZE &gt; 1).</summary>
    public static bool InEnvironment() => int.TryParse(Environment.GetEnvironmentVariable("WORLD_SIZE"), out int w) && w > 1;

    /// <summary>
    /// Joins the group described by torchrun's variables: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE (and optionally
    /// CANKIT_DIST_BACKEND = gloo | nccl, CANKIT_DIST_TIMEOUT seconds). The backend defaults to NCCL for a CUDA
    /// <paramref name="device"/> and Gloo otherwise.
    /// </summary>
    public static ProcessGroup FromEnvironment(Device device = default, TimeSpan? timeout = null)
    {
        static string Need(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v
            : throw new InvalidOperationException($"environment variable {name} is not set (expected MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, as torchrun or `cankit pretrain --nproc` set them)");
        static int Int(string name) => int.TryParse(Need(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v
            : throw new InvalidOperationException($"environment variable {name}='{Need(name)}' is not an integer");
        string backend = Environment.GetEnvironmentVariable("CANKIT_DIST_BACKEND") is { Length: > 0 } b ? b : device.IsCuda ? "nccl" : "gloo";
        if (timeout is null && double.TryParse(Environment.GetEnvironmentVariable("CANKIT_DIST_TIMEOUT"), NumberStyles.Float, CultureInfo.InvariantCulture, out double s))
            timeout = TimeSpan.FromSeconds(s);
        return Create(backend, Need("MASTER_ADDR"), Int("MASTER_PORT"), Int("RANK"), Int("WORLD_SIZE"), timeout);
    }

    internal GroupHandle H => _h.IsClosed ? throw new ObjectDisposedException(nameof(ProcessGroup)) : _h;

    private unsafe delegate int ListCall(IntPtr* tensors, int n);

    private unsafe void WithList(IReadOnlyList<Tensor> tensors, ListCall f, string op)
    {
        var raw = new IntPtr[tensors.Count];
        for (int i = 0; i < raw.Length; i++) raw[i] = tensors[i].H.DangerousGetHandle();
        fixed (IntPtr* p = raw)
        {
            int status = f(p, raw.Length);
            GC.KeepAlive(tensors);
            NativeCheck.Status(status, op);
        }
    }

    /// <summary>Sums each tensor over all ranks, in place (any shapes; sent as flat 25 MB buckets).</summary>
    public unsafe void AllReduce(IReadOnlyList<Tensor> tensors) =>
        WithList(tensors, (p, n) => Native.ck_group_allreduce(H, p, n), nameof(AllReduce));

    /// <summary>Overwrites each tensor with <paramref name="root"/>'s, in place (any shapes; sent as flat 25 MB buckets).</summary>
    public unsafe void Broadcast(IReadOnlyList<Tensor> tensors, int root = 0) =>
        WithList(tensors, (p, n) => Native.ck_group_broadcast(H, p, n, root), nameof(Broadcast));

    /// <summary>Every rank's <paramref name="t"/> [n, …] (same shape on all ranks), stacked in rank order: [W·n, …]. No gradient.</summary>
    public Tensor AllGather(Tensor t) => NativeCheck.Result(Native.ck_group_allgather(H, t.H), nameof(AllGather));

    /// <summary>
    /// <see cref="AllGather"/> that carries a gradient, for losses over all ranks' samples (global negatives):
    /// backward sums the incoming gradient over ranks and keeps this rank's rows [Rank·n, (Rank+1)·n), i.e. the
    /// gradient of Σ_r L_r. Every rank must call backward (the backward is itself a collective).
    /// </summary>
    public Tensor AllGatherWithGrad(Tensor t) => NativeCheck.Result(Native.ck_group_allgather_grad(H, t.H), nameof(AllGatherWithGrad));

    /// <summary>Returns when every rank has reached it (or throws after <see cref="Timeout"/>).</summary>
    public void Barrier() => NativeCheck.Status(Native.ck_group_barrier(H), nameof(Barrier));

    /// <summary>
    /// Averages the gradients of <paramref name="parameters"/> over ranks in flattened buckets of about
    /// <paramref name="bucketBytes"/> (PyTorch DDP: 25 MB). See <see cref="DataParallel.AverageGradients"/>.
    /// </summary>
    internal unsafe void AverageGradients(IReadOnlyList<Tensor> parameters, long bucketBytes) =>
        WithList(parameters, (p, n) => Native.ck_group_average_grads(H, p, n, bucketBytes, 1.0 / WorldSize), nameof(AverageGradients));

    public void Dispose() => _h.Dispose();
}
