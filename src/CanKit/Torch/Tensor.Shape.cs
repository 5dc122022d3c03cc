namespace CanKit;

// Views, reshapes, joins, indexing. Dims may be negative (counted from the end), as in PyTorch.
public sealed unsafe partial class Tensor
{
    private unsafe delegate TensorHandle SizesOp(TensorHandle a, long* s, int n);

    private unsafe Tensor WithSizes(SizesOp f, long[] sizes, string op)
    {
        fixed (long* p = sizes) return R(f(H, p, sizes.Length), op);
    }

    /// <summary>A view with new sizes (one may be -1); needs compatible strides, else use Reshape.</summary>
    public Tensor View(params long[] shape) => WithSizes(Native.ck_view, shape, nameof(View));
    public Tensor Reshape(params long[] shape) => WithSizes(Native.ck_reshape, shape, nameof(Reshape));
    public Tensor Permute(params long[] dims) => WithSizes(Native.ck_permute, dims, nameof(Permute));
    public Tensor Expand(params long[] sizes) => WithSizes(Native.ck_expand, sizes, nameof(Expand));
    public Tensor Repeat(params long[] repeats) => WithSizes(Native.ck_repeat, repeats, nameof(Repeat));
    public Tensor Flip(params long[] dims) => WithSizes(Native.ck_flip, dims, nameof(Flip));
    public Tensor Flatten(long startDim = 0, long endDim = -1) => R(Native.ck_flatten(H, startDim, endDim));
    public Tensor Transpose(long dim0, long dim1) => R(Native.ck_transpose(H, dim0, dim1));
    public Tensor Unsqueeze(long dim) => R(Native.ck_unsqueeze(H, dim));
    /// <summary>Removes size-1 dims (all of them when <paramref name="dim"/> is null).</summary>
    public Tensor Squeeze(long? dim = null) => R(Native.ck_squeeze(H, dim ?? 0, I(dim.HasValue)));
    public Tensor Narrow(long dim, long start, long length) => R(Native.ck_narrow(H, dim, start, length));
    public Tensor Select(long dim, long index) => R(Native.ck_select(H, dim, index));
    /// <summary>Elements start, start+step, … below end along <paramref name="dim"/> (a view).</summary>
    public Tensor Slice(long dim, long start, long end, long step = 1) => R(Native.ck_slice(H, dim, start, end, step));
    public Tensor IndexSelect(long dim, Tensor index) => R(Native.ck_index_select(H, dim, index.H));
    /// <summary>out[i][j] = this[i][index[i][j]] for dim 1 (and likewise for other dims).</summary>
    public Tensor Gather(long dim, Tensor index) => R(Native.ck_gather(H, dim, index.H));
    /// <summary>A copy with <paramref name="source"/> written at <paramref name="index"/> along <paramref name="dim"/>.</summary>
    public Tensor Scatter(long dim, Tensor index, Tensor source) => R(Native.ck_scatter(H, dim, index.H, source.H));
    public Tensor Scatter(long dim, Tensor index, double value) => R(Native.ck_scatter_s(H, dim, index.H, value));

    /// <summary>Splits along <paramref name="dim"/> into its slices.</summary>
    public unsafe Tensor[] Unbind(long dim = 0)
    {
        int n = checked((int)Size((int)dim));
        var raw = new IntPtr[n];
        fixed (IntPtr* o = raw) S(Native.ck_unbind(H, dim, o));
        var result = new Tensor[n];
        for (int i = 0; i < n; i++) result[i] = NativeCheck.Adopt(raw[i])!;
        return result;
    }

    private unsafe delegate TensorHandle ListOp(IntPtr* ts, int n, long dim);

    private static unsafe Tensor JoinList(ListOp f, IReadOnlyList<Tensor> tensors, long dim, string op)
    {
        var raw = new IntPtr[tensors.Count];
        for (int i = 0; i < raw.Length; i++) raw[i] = tensors[i].H.DangerousGetHandle();
        fixed (IntPtr* p = raw)
        {
            var result = R(f(p, raw.Length, dim), op);
            GC.KeepAlive(tensors);
            return result;
        }
    }

    public static Tensor Cat(IReadOnlyList<Tensor> tensors, long dim = 0) => JoinList(Native.ck_cat, tensors, dim, nameof(Cat));
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, long dim = 0) => JoinList(Native.ck_stack, tensors, dim, nameof(Stack));

    // ---- nn-style methods (also in Nn.Functional) ---------------------------------------------------------
    public Tensor Softmax(long dim) => R(Native.ck_softmax(H, dim));
    public Tensor LogSoftmax(long dim) => R(Native.ck_log_softmax(H, dim));
}
