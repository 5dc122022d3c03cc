namespace CanKit.Data;

/// <summary>
/// Where the uint8 pixels of an <see cref="ImageSet"/> live: a byte range addressed by 64-bit offsets, read by
/// copying into a caller's buffer. <see cref="Read"/> may be called from several threads at once. The store is
/// read-only once made; <see cref="ImageSet.Take"/> of a file-backed set shares it.
/// </summary>
public abstract class PixelStore : IDisposable
{
    /// <summary>Bytes in the store.</summary>
    public abstract long Length { get; }

    /// <summary>What errors name: the file behind the store, or "memory".</summary>
    public abstract string Source { get; }

    /// <summary>True when the bytes are in this process's memory (a managed array), false when they are read from a file.</summary>
    public abstract bool InMemory { get; }

    /// <summary>Copies bytes [offset, offset + dst.Length) into <paramref name="dst"/>; thread-safe.</summary>
    public void Read(long offset, Span<byte> dst)
    {
        if (offset < 0 || offset > Length - dst.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset,
                                                  $"{Source}: bytes [{offset}, {offset + dst.Length}) are outside the store's {Length}");
        ReadCore(offset, dst);
    }

    protected abstract void ReadCore(long offset, Span<byte> dst);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing) { }
}

/// <summary>Pixels in one managed array (at most <see cref="Array.MaxLength"/> bytes): the small sets (Fashion-MNIST, CIFAR).</summary>
public sealed class MemoryPixels(byte[] bytes) : PixelStore
{
    /// <summary>The array itself (not a copy).</summary>
    public byte[] Bytes { get; } = bytes;
    public override long Length => Bytes.Length;
    public override string Source => "memory";
    public override bool InMemory => true;
    protected override void ReadCore(long offset, Span<byte> dst) => Bytes.AsSpan((int)offset, dst.Length).CopyTo(dst);
}
