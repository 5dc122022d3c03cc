using System.Buffers.Binary;
using System.IO.Compression;

namespace CanKit.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (plain or .gz): a 4-byte magic (0, 0, type, ndim), ndim
/// big-endian int32 sizes, then the data. Only unsigned-byte data (type 0x08) is used by these datasets.
/// Errors name the file and the byte offset where the data went wrong.
/// </summary>
public static class IdxFile
{
    /// <summary>Largest payload accepted (guards against a corrupt header asking for a huge allocation).</summary>
    public const long MaxBytes = 1L << 31;

    /// <summary>The sizes and bytes of an IDX file of unsigned bytes.</summary>
    public sealed record Contents(int[] Shape, byte[] Data);

    /// <summary>Where the data of an IDX file of rank <paramref name="ndim"/> starts: the magic, then one int32 per size.</summary>
    public static int DataOffset(int ndim) => 4 + 4 * ndim;

    public static Contents Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"IDX file not found: {path}", path);
        using Stream file = File.OpenRead(path);
        using Stream s = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            Span<byte> magic = stackalloc byte[4];
            long offset = 0;
            ReadExactly(s, magic, path, ref offset);
            if (magic[0] != 0 || magic[1] != 0)
                throw new InvalidDataException($"{path}: bad IDX magic {Convert.ToHexString(magic)} at byte 0 (expected 0000xxxx)");
            if (magic[2] != 0x08)
                throw new InvalidDataException($"{path}: IDX data type 0x{magic[2]:X2} at byte 2 is not unsigned byte (0x08)");
            int ndim = magic[3];
            if (ndim is < 1 or > 4) throw new InvalidDataException($"{path}: IDX rank {ndim} at byte 3 is outside 1..4");
            var shape = new int[ndim];
            Span<byte> four = stackalloc byte[4];
            long total = 1;
            for (int i = 0; i < ndim; i++)
            {
                long at = offset;
                ReadExactly(s, four, path, ref offset);
                shape[i] = BinaryPrimitives.ReadInt32BigEndian(four);
                if (shape[i] < 0) throw new InvalidDataException($"{path}: negative size {shape[i]} at byte {at}");
                total *= shape[i];
                if (total > MaxBytes)
                    throw new InvalidDataException($"{path}: sizes [{string.Join(", ", shape.Take(i + 1))}] " +
                                                   $"at byte {at} exceed {MaxBytes} bytes");
            }
            var data = new byte[total];
            ReadExactly(s, data, path, ref offset);
            return new Contents(shape, data);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path))
        {
            throw new InvalidDataException($"{path}: {e.Message}", e); // e.g. a corrupt gzip stream
        }
    }

    private static void ReadExactly(Stream s, Span<byte> buffer, string path, ref long offset)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = s.Read(buffer[got..]);
            if (n == 0)
                throw new InvalidDataException($"{path}: truncated at byte {offset + got} (needed {buffer.Length - got} more bytes)");
            got += n;
        }
        offset += got;
    }
}
