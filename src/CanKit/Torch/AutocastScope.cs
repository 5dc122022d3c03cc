namespace CanKit;

/// <summary>
/// An automatic-mixed-precision region on this thread (<c>using var amp = Torch.Autocast(device, DType.BFloat16)</c>):
/// matmuls, linear layers and convolutions run in the lower precision, reductions and losses stay float32, and
/// gradients flow back to float32 parameters. Restores the previous setting when disposed.
/// </summary>
public sealed class AutocastScope : IDisposable
{
    private readonly int _deviceType, _prevEnabled, _prevDtype;
    private bool _disposed;

    internal AutocastScope(Device device, DType dtype)
    {
        if (dtype is not (DType.BFloat16 or DType.Float16))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "autocast runs in bfloat16 or float16");
        _deviceType = (int)device.Type;
        NativeCheck.Status(Native.ck_autocast_enter(_deviceType, (int)dtype, out _prevEnabled, out _prevDtype), "Autocast");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NativeCheck.Status(Native.ck_autocast_exit(_deviceType, _prevEnabled, _prevDtype), "Autocast");
    }
}
