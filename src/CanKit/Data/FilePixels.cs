using Microsoft.Win32.SafeHandles;

namespace CanKit.Data;

/// <summary>
/// Pixels read from a file by positioned reads (<c>pread</c>, <see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/>):
/// nothing but the open handle is held, so a set of any size streams through the operating system's page cache,
/// and a file that shrinks under the reader is an <see cref="InvalidDataException"/> naming it (a memory map
/// would end the process with SIGBUS). The default for file-backed sets (docs/data.md has the measurement
/// against <see cref="MappedPixels"/>).
/// </summary>
public sealed class FilePixels : PixelStore
{
    private readonly SafeFileHandle _file;
    private readonly long _length;

    public FilePixels(string path)
    {
        // no lock: a rebuild renames a new file over it
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.RandomAccess);
        _length = RandomAccess.GetLength(_file);
        Source = path;
    }

    public override long Length => _length;
    public override string Source { get; }
    public override bool InMemory => false;

    protected override void ReadCore(long offset, Span<byte> dst)
    {
        while (dst.Length > 0)
        {
            int n = RandomAccess.Read(_file, dst, offset);
            if (n == 0) throw new InvalidDataException($"{Source}: the file is now {RandomAccess.GetLength(_file)} bytes, " +
                                                       $"shorter than the {_length} it had when opened (truncated while in use?); " +
                                                       "rebuild the cache");
            dst = dst[n..];
            offset += n;
        }
    }

    protected override void Dispose(bool disposing) => _file.Dispose();
}
