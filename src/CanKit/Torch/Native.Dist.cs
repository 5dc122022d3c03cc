using System.Runtime.InteropServices;

namespace CanKit;

// torch.distributed (c10d) exports of dist.cpp. Status exports return 0 or -1, tensor exports a handle or null.
internal static unsafe partial class Native
{
    [DllImport(Lib)] internal static extern int ck_dist_has_backend([MarshalAs(UnmanagedType.LPUTF8Str)] string backend);
    [DllImport(Lib)] internal static extern GroupHandle ck_group_new([MarshalAs(UnmanagedType.LPUTF8Str)] string backend,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string addr, int port, int rank, int size, long timeoutMs);
    [DllImport(Lib)] internal static extern void ck_group_free(IntPtr g);
    [DllImport(Lib)] internal static extern int ck_group_rank(GroupHandle g);
    [DllImport(Lib)] internal static extern int ck_group_size(GroupHandle g);
    [DllImport(Lib)] internal static extern int ck_group_allreduce(GroupHandle g, IntPtr* ts, int n);
    [DllImport(Lib)] internal static extern int ck_group_broadcast(GroupHandle g, IntPtr* ts, int n, int root);
    [DllImport(Lib)] internal static extern TensorHandle ck_group_allgather(GroupHandle g, TensorHandle t);
    [DllImport(Lib)] internal static extern TensorHandle ck_group_allgather_grad(GroupHandle g, TensorHandle t);
    [DllImport(Lib)] internal static extern int ck_group_barrier(GroupHandle g);
    [DllImport(Lib)] internal static extern int ck_group_average_grads(GroupHandle g, IntPtr* ps, int n, long bucketBytes, double scale);
}

/// <summary>Owns one native process group (its TCPStore and Gloo/NCCL backend).</summary>
internal sealed class GroupHandle : SafeHandle
{
    public GroupHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        Native.ck_group_free(handle);
        return true;
    }
}
