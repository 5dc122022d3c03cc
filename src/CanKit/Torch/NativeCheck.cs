using System.Runtime.InteropServices;

namespace CanKit;

/// <summary>
/// The one helper that reads the native error channel: takes the pending message (freeing the native copy)
/// and throws <see cref="TorchException"/> naming the operation.
/// </summary>
internal static class NativeCheck
{
    /// <summary>Returns the pending native error message, or null; clears the slot.</summary>
    internal static string? TakeError()
    {
        IntPtr p = Native.ck_take_error();
        if (p == IntPtr.Zero) return null;
        try { return Marshal.PtrToStringUTF8(p); }
        finally { Native.ck_free_string(p); }
    }

    /// <summary>A tensor result that must be defined.</summary>
    internal static Tensor Result(TensorHandle h, string op)
    {
        if (!h.IsInvalid) return new Tensor(h);
        h.Dispose();
        throw new TorchException(op, TakeError() ?? "returned an undefined tensor");
    }

    /// <summary>A tensor result that may legitimately be undefined (e.g. a gradient not yet computed).</summary>
    internal static Tensor? ResultOrNull(TensorHandle h, string op)
    {
        if (!h.IsInvalid) return new Tensor(h);
        h.Dispose();
        string? err = TakeError();
        if (err != null) throw new TorchException(op, err);
        return null;
    }

    /// <summary>Owns a raw handle written into an out-array by a native call.</summary>
    internal static Tensor? Adopt(IntPtr raw) => raw == IntPtr.Zero ? null : new Tensor(new TensorHandle(raw));

    internal static void Status(int status, string op)
    {
        if (status != 0) throw new TorchException(op, TakeError() ?? "failed without a message");
    }
}
