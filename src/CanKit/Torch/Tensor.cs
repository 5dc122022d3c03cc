using System.Runtime.InteropServices;

namespace CanKit;

/// <summary>
/// A libtorch tensor. Owns native memory the GC cannot see: dispose it, or create it inside a
/// <see cref="DisposeScope"/> (<c>using var scope = Torch.NewDisposeScope();</c>) that frees everything made in
/// a step. The finaliser of the underlying handle is only a safety net.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private readonly TensorHandle _h;

    /// <summary>The dispose scope that owns this tensor, if any.</summary>
    internal DisposeScope? Scope;

    /// <summary>This tensor's position in its scope's list.</summary>
    internal int ScopeSlot;

    internal Tensor(TensorHandle h)
    {
        _h = h;
        DisposeScope.Current?.Register(this);
    }

    /// <summary>The native handle; throws <see cref="ObjectDisposedException"/> after Dispose.</summary>
    internal TensorHandle H => _h.IsClosed ? throw new ObjectDisposedException(nameof(Tensor), "the tensor was disposed") : _h;

    public bool IsDisposed => _h.IsClosed;

    public void Dispose() => _h.Dispose();

    // ---- properties --------------------------------------------------------------------------------------
    public int Dim => Native.ck_ndim(H);

    /// <summary>Sizes, outermost first (PyTorch's <c>shape</c>).</summary>
    public unsafe long[] Shape
    {
        get
        {
            var s = new long[Dim];
            fixed (long* p = s) Native.ck_sizes(H, p);
            return s;
        }
    }

    /// <summary>Size of one dimension; negative dims count from the end.</summary>
    public long Size(int dim)
    {
        long[] s = Shape;
        int d = dim < 0 ? dim + s.Length : dim;
        if (d < 0 || d >= s.Length) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"tensor has {s.Length} dims");
        return s[d];
    }

    public unsafe long[] Strides
    {
        get
        {
            var s = new long[Dim];
            fixed (long* p = s) Native.ck_strides(H, p);
            return s;
        }
    }

    public DType DType => (DType)Native.ck_dtype(H);

    public Device Device
    {
        get
        {
            var t = (DeviceType)Native.ck_device_type(H);
            return t == DeviceType.Cpu ? Device.Cpu : new Device(t, Native.ck_device_index(H));
        }
    }

    public long NumEl => Native.ck_numel(H);
    public bool IsContiguous => Native.ck_is_contiguous(H) != 0;
    public bool IsLeaf => Native.ck_is_leaf(H) != 0;

    // ---- creation ----------------------------------------------------------------------------------------
    private unsafe delegate TensorHandle ShapeCtor(long* shape, int ndim, int dtype, int dev, int idx);

    private static unsafe Tensor Make(ShapeCtor f, long[] shape, DType dtype, Device device, string op)
    {
        fixed (long* p = shape) return NativeCheck.Result(f(p, shape.Length, (int)dtype, (int)device.Type, device.NativeIndex), op);
    }

    public static unsafe Tensor Empty(long[] shape, DType dtype = DType.Float32, Device device = default) =>
        Make(Native.ck_empty, shape, dtype, device, nameof(Empty));
    public static unsafe Tensor Zeros(long[] shape, DType dtype = DType.Float32, Device device = default) =>
        Make(Native.ck_zeros, shape, dtype, device, nameof(Zeros));
    public static unsafe Tensor Ones(long[] shape, DType dtype = DType.Float32, Device device = default) =>
        Make(Native.ck_ones, shape, dtype, device, nameof(Ones));

    public static unsafe Tensor Full(long[] shape, double value, DType dtype = DType.Float32, Device device = default)
    {
        fixed (long* p = shape)
            return NativeCheck.Result(Native.ck_full(p, shape.Length, value, dtype.IsFloatingPoint() ? 0 : 1,
                (int)dtype, (int)device.Type, device.NativeIndex), nameof(Full));
    }

    /// <summary>Values in [start, end) spaced by step (PyTorch's <c>arange</c>).</summary>
    public static Tensor Arange(double start, double end, double step = 1, DType dtype = DType.Int64, Device device = default) =>
        NativeCheck.Result(Native.ck_arange(start, end, step, (int)dtype, (int)device.Type, device.NativeIndex), nameof(Arange));

    public static Tensor Arange(long end, DType dtype = DType.Int64, Device device = default) => Arange(0, end, 1, dtype, device);

    public static Tensor Linspace(double start, double end, long steps, DType dtype = DType.Float32, Device device = default) =>
        NativeCheck.Result(Native.ck_linspace(start, end, steps, (int)dtype, (int)device.Type, device.NativeIndex), nameof(Linspace));

    /// <summary>Uniform [0, 1). Pass a <see cref="Generator"/> for a reproducible stream.</summary>
    public static unsafe Tensor Rand(long[] shape, Generator? generator = null, DType dtype = DType.Float32, Device device = default)
    {
        fixed (long* p = shape)
            return NativeCheck.Result(Native.ck_rand(p, shape.Length, Generator.HandleOf(generator), (int)dtype, (int)device.Type, device.NativeIndex), nameof(Rand));
    }

    /// <summary>Standard normal.</summary>
    public static unsafe Tensor Randn(long[] shape, Generator? generator = null, DType dtype = DType.Float32, Device device = default)
    {
        fixed (long* p = shape)
            return NativeCheck.Result(Native.ck_randn(p, shape.Length, Generator.HandleOf(generator), (int)dtype, (int)device.Type, device.NativeIndex), nameof(Randn));
    }

    /// <summary>Integers in [low, high).</summary>
    public static unsafe Tensor RandInt(long low, long high, long[] shape, Generator? generator = null, DType dtype = DType.Int64, Device device = default)
    {
        fixed (long* p = shape)
            return NativeCheck.Result(Native.ck_randint(low, high, p, shape.Length, Generator.HandleOf(generator), (int)dtype, (int)device.Type, device.NativeIndex), nameof(RandInt));
    }

    /// <summary>A random permutation of 0..n-1.</summary>
    public static Tensor RandPerm(long n, Generator? generator = null, Device device = default) =>
        NativeCheck.Result(Native.ck_randperm(n, Generator.HandleOf(generator), (int)DType.Int64, (int)device.Type, device.NativeIndex), nameof(RandPerm));

    /// <summary>Copies <paramref name="data"/> into a new CPU tensor of the given shape (default: 1-D).</summary>
    public static unsafe Tensor From<T>(ReadOnlySpan<T> data, params long[] shape) where T : unmanaged
    {
        if (shape.Length == 0) shape = [data.Length];
        DType dt = DTypeExtensions.Of<T>();
        long n = 1;
        foreach (long s in shape) n *= s;
        if (n != data.Length)
            throw new ArgumentException($"shape [{string.Join(", ", shape)}] holds {n} elements but {data.Length} were given", nameof(shape));
        fixed (T* d = data)
        fixed (long* p = shape)
            return NativeCheck.Result(Native.ck_from_buffer(d, (long)data.Length * sizeof(T), p, shape.Length, (int)dt), nameof(From));
    }

    public static Tensor From<T>(T[] data, params long[] shape) where T : unmanaged => From((ReadOnlySpan<T>)data, shape);

    /// <summary>A 0-dim tensor holding one value.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.Float32, Device device = default) => Full([], value, dtype, device);

    /// <summary>Creates a tensor from raw little-endian bytes (e.g. a safetensors payload).</summary>
    public static unsafe Tensor FromBytes(ReadOnlySpan<byte> bytes, DType dtype, long[] shape)
    {
        fixed (byte* d = bytes)
        fixed (long* p = shape)
            return NativeCheck.Result(Native.ck_from_buffer(d, bytes.Length, p, shape.Length, (int)dtype), nameof(FromBytes));
    }

    // ---- data out ----------------------------------------------------------------------------------------
    /// <summary>Copies the elements (row-major) to a new array; <typeparamref name="T"/> must match the dtype.</summary>
    public unsafe T[] ToArray<T>() where T : unmanaged
    {
        DType want = DTypeExtensions.Of<T>();
        if (want != DType)
            throw new InvalidOperationException($"ToArray<{typeof(T).Name}> needs a {want.TorchName()} tensor but this one is {DType.TorchName()}; convert with To({want}) first");
        var a = new T[NumEl];
        fixed (T* p = a) NativeCheck.Status(Native.ck_copy_to_buffer(H, p, (long)a.Length * sizeof(T)), nameof(ToArray));
        return a;
    }

    /// <summary>The raw bytes of the elements in row-major order (any dtype, any device).</summary>
    public unsafe byte[] ToBytes()
    {
        var a = new byte[NumEl * DType.ElementSize()];
        fixed (byte* p = a) NativeCheck.Status(Native.ck_copy_to_buffer(H, p, a.Length), nameof(ToBytes));
        return a;
    }

    /// <summary>The value of a one-element tensor, converted to <typeparamref name="T"/>.</summary>
    public T Item<T>() where T : unmanaged
    {
        int status;
        if (typeof(T) == typeof(float) || typeof(T) == typeof(double) || typeof(T) == typeof(Half))
        {
            double d = Native.ck_item_double(H, out status);
            NativeCheck.Status(status, nameof(Item));
            if (typeof(T) == typeof(float)) return (T)(object)(float)d;
            if (typeof(T) == typeof(Half)) return (T)(object)(Half)d;
            return (T)(object)d;
        }
        long l = Native.ck_item_long(H, out status);
        NativeCheck.Status(status, nameof(Item));
        if (typeof(T) == typeof(long)) return (T)(object)l;
        if (typeof(T) == typeof(int)) return (T)(object)checked((int)l);
        if (typeof(T) == typeof(bool)) return (T)(object)(l != 0);
        if (typeof(T) == typeof(byte)) return (T)(object)checked((byte)l);
        if (typeof(T) == typeof(short)) return (T)(object)checked((short)l);
        throw new NotSupportedException($"Item<{typeof(T).Name}> is not supported");
    }

    // ---- conversion --------------------------------------------------------------------------------------
    public Tensor To(DType dtype) => To(Device, dtype);
    public Tensor To(Device device) => To(device, DType);

    public Tensor To(Device device, DType dtype, bool nonBlocking = false, bool copy = false) =>
        NativeCheck.Result(Native.ck_to(H, (int)dtype, (int)device.Type, device.NativeIndex, nonBlocking ? 1 : 0, copy ? 1 : 0), nameof(To));

    public Tensor Cpu() => To(Device.Cpu);
    public Tensor PinMemory() => NativeCheck.Result(Native.ck_pin_memory(H), nameof(PinMemory));
    public Tensor Clone() => NativeCheck.Result(Native.ck_clone(H), nameof(Clone));
    public Tensor Detach() => NativeCheck.Result(Native.ck_detach(H), nameof(Detach));
    public Tensor Contiguous() => NativeCheck.Result(Native.ck_contiguous(H), nameof(Contiguous));

    /// <summary>A second handle to the same tensor (shares storage and autograd history).</summary>
    public Tensor Alias() => NativeCheck.Result(Native.ck_alias(H), nameof(Alias));

    /// <summary>Copies <paramref name="src"/> into this tensor in place (PyTorch's <c>copy_</c>); broadcasts.</summary>
    public Tensor CopyFrom(Tensor src, bool nonBlocking = false)
    {
        NativeCheck.Status(Native.ck_copy_(H, src.H, nonBlocking ? 1 : 0), "Copy_");
        return this;
    }

    /// <summary>Swaps in <paramref name="data"/> (its device, dtype and storage) while keeping this tensor object,
    /// its RequiresGrad flag and its identity as a leaf (PyTorch's <c>t.data = data</c>).</summary>
    public void SetData(Tensor data) => NativeCheck.Status(Native.ck_set_data(H, data.H), nameof(SetData));

    // ---- autograd ----------------------------------------------------------------------------------------
    public bool RequiresGrad
    {
        get => Native.ck_requires_grad(H) != 0;
        set => NativeCheck.Status(Native.ck_set_requires_grad(H, value ? 1 : 0), nameof(RequiresGrad));
    }

    /// <summary>Sets <see cref="RequiresGrad"/> and returns this tensor (PyTorch's <c>requires_grad_()</c>).</summary>
    public Tensor RequiresGrad_(bool on = true)
    {
        RequiresGrad = on;
        return this;
    }

    /// <summary>Back-propagates from this tensor; a non-scalar output needs <paramref name="gradient"/>.</summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false) =>
        NativeCheck.Status(Native.ck_backward(H, gradient?.H ?? TensorHandle.Null, retainGraph ? 1 : 0), nameof(Backward));

    /// <summary>The accumulated gradient, or null before any backward pass reached this tensor.
    /// Each read returns a new handle (dispose it, or read inside a scope); it shares the gradient's storage.</summary>
    public Tensor? Grad
    {
        get => NativeCheck.ResultOrNull(Native.ck_grad(H), nameof(Grad));
        set => NativeCheck.Status(Native.ck_set_grad(H, value?.H ?? TensorHandle.Null), nameof(Grad));
    }

    /// <summary>Drops the gradient (default, as PyTorch's zero_grad) or zeroes it in place.</summary>
    public void ZeroGrad(bool setToNone = true) => NativeCheck.Status(Native.ck_zero_grad(H, setToNone ? 1 : 0), nameof(ZeroGrad));

    // ---- scopes ------------------------------------------------------------------------------------------
    /// <summary>Moves this tensor out of the current dispose scope into the enclosing one (or none).</summary>
    public Tensor MoveToOuterDisposeScope()
    {
        Scope?.MoveToOuter(this);
        return this;
    }

    /// <summary>Removes this tensor from every dispose scope: the caller now owns it.</summary>
    public Tensor DetachFromDisposeScope()
    {
        Scope?.Forget(this);
        return this;
    }
}
