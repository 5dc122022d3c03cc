using System.Runtime.InteropServices;

namespace CanKit;

/// <summary>Owns one native <c>at::Tensor</c>. P/Invoke keeps it alive for the length of every call.</summary>
internal sealed class TensorHandle : SafeHandle
{
    /// <summary>Passed where an optional tensor is absent; never released.</summary>
    internal static readonly TensorHandle Null = new(IntPtr.Zero, ownsHandle: false);

    public TensorHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    internal TensorHandle(IntPtr h, bool ownsHandle = true) : base(IntPtr.Zero, ownsHandle) => SetHandle(h);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        Native.ck_tensor_free(handle);
        return true;
    }
}

/// <summary>Owns one native <c>at::Generator</c>.</summary>
internal sealed class GeneratorHandle : SafeHandle
{
    internal static readonly GeneratorHandle Null = new(IntPtr.Zero, ownsHandle: false);

    public GeneratorHandle() : base(IntPtr.Zero, ownsHandle: true) { }
    private GeneratorHandle(IntPtr h, bool ownsHandle) : base(IntPtr.Zero, ownsHandle) => SetHandle(h);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        Native.ck_generator_free(handle);
        return true;
    }
}
