namespace CanKit;

/// <summary>An error raised inside libtorch, carried across the native boundary as a message.</summary>
public sealed class TorchException : Exception
{
    /// <summary>The CanKit operation that failed (e.g. <c>MatMul</c>).</summary>
    public string Operation { get; }

    /// <summary>libtorch's own message, unchanged.</summary>
    public string NativeMessage { get; }

    public TorchException(string operation, string nativeMessage)
        : base($"{operation}: {nativeMessage}")
    {
        Operation = operation;
        NativeMessage = nativeMessage;
    }
}
