using System.IO.MemoryMappedFiles;

namespace CanKit.Data;

/// <summary>
/// Pixels read through a read-only memory map of a file: a read is a copy from the mapped pages, without a system
/// call once they are resident. Resident mapped pages count in the process's RSS (as file pages the kernel may drop),
/// and a file truncated while mapped ends the process with SIGBUS, which is why <see cref="FilePixels"/> is the default;
/// docs/data.md compares the two.
/// </summary>
public sealed unsafe class MappedPixels : PixelStore
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _length;

    public MappedPixels(string path)
    {
        _length = new FileInfo(path).Length;
        if (_length == 0) throw new InvalidDataException($"{path}: empty file, nothing to map");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
        Source = path;
    }

    ~MappedPixels() => Dispose(false);

    public override long Length => _length;
    public override string Source { get; }
    public override bool InMemory => false;

    protected override void ReadCore(long offset, Span<byte> dst) => new ReadOnlySpan<byte>(_base + offset, dst.Length).CopyTo(dst);

    private int _disposed;
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        if (!disposing) return;
        _view.Dispose();
        _map.Dispose();
    }
}
