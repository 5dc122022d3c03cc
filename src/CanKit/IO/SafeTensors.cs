namespace CanKit.IO;

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors): an 8-byte
/// little-endian header length N, N bytes of UTF-8 JSON
/// (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>), then
/// the data buffer holding each tensor's row-major little-endian bytes at its offsets.
/// Files written here follow the official writer's layout (tensors sorted by alignment then name, header padded
/// with spaces to a multiple of 8), so PyTorch's <c>safetensors.torch.load_file</c> reads them.
/// </summary>
public static class SafeTensors
{
    // Tensors larger than this move through the file in pieces of this size, so neither side needs a second
    // whole-tensor buffer (and tensors over 2 GiB, the .NET array limit, still work). A multiple of every
    // element size.
    internal const int ChunkBytes = 16 << 20;

    /// <summary>
    /// Writes <paramref name="tensors"/> (any device, any layout) and optional <paramref name="metadata"/> to
    /// <paramref name="path"/>. The write is atomic: the data goes to a temporary file in the same directory,
    /// is flushed to disk, and then replaces <paramref name="path"/>; if anything fails, the temporary file is
    /// deleted and an existing file at <paramref name="path"/> is left as it was.
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty or <c>__metadata__</c>, or a tensor or metadata value is null.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
                            IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, tensors, metadata, afterTensor: null);

    // afterTensor runs after each tensor's bytes are written; tests use it to fail a save part-way.
    internal static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
                              IReadOnlyDictionary<string, string>? metadata, Action<string>? afterTensor)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(tensors);
        foreach (var (name, t) in tensors)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("tensor names must be non-empty", nameof(tensors));
            if (name == SafeTensorsHeader.MetadataKey)
                throw new ArgumentException($"'{name}' is reserved for metadata and cannot name a tensor", nameof(tensors));
            if (t is null) throw new ArgumentException($"tensor '{name}' is null", nameof(tensors));
        }
        if (metadata != null)
            foreach (var (key, value) in metadata)
                if (value is null) throw new ArgumentException($"metadata value '{key}' is null", nameof(metadata));

        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                List<(SafeTensorsEntry Entry, Tensor Tensor)> plan = Plan(tensors);
                fs.Write(SafeTensorsHeader.Encode(plan.Select(p => p.Entry).ToList(), metadata));
                foreach (var (entry, t) in plan)
                {
                    WriteData(fs, t, entry);
                    afterTensor?.Invoke(entry.Name);
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); }
            catch (IOException) { } // keep the original error; a stray temp file is the lesser problem
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    // The official writer's order: larger elements first (so every tensor is aligned to its element size within
    // the 8-aligned buffer), then by name; offsets are packed back to back, leaving no gaps (its reader
    // rejects gaps and trailing bytes).
    private static List<(SafeTensorsEntry, Tensor)> Plan(IReadOnlyDictionary<string, Tensor> tensors)
    {
        var plan = new List<(SafeTensorsEntry, Tensor)>(tensors.Count);
        long offset = 0;
        foreach (var (name, t) in tensors.OrderByDescending(kv => SafeTensorsDTypes.WriterRank(kv.Value.DType))
                                         .ThenBy(kv => kv.Key, StringComparer.Ordinal))
        {
            DType dtype = t.DType;
            long bytes = checked(t.NumEl * dtype.ElementSize());
            plan.Add((new SafeTensorsEntry(name, dtype, t.Shape, offset, offset + bytes), t));
            offset += bytes;
        }
        return plan;
    }

    private static void WriteData(Stream fs, Tensor t, SafeTensorsEntry entry)
    {
        if (entry.ByteLength <= ChunkBytes)
        {
            fs.Write(t.ToBytes());
            return;
        }
        int step = ChunkBytes / entry.DType.ElementSize();
        using Tensor flat = t.Flatten(); // [NumEl]
        for (long i = 0, n = flat.NumEl; i < n; i += step)
        {
            using Tensor piece = flat.Narrow(0, i, Math.Min(step, n - i));
            fs.Write(piece.ToBytes());
        }
    }

    /// <summary>
    /// Loads every tensor in <paramref name="path"/> onto <paramref name="device"/> (CPU by default). The result
    /// owns the tensors: dispose it (<c>using var ckpt = SafeTensors.Load(path);</c>) or <see cref="SafeTensorsCheckpoint.Take"/>
    /// the ones to keep. Tensors created inside a <see cref="DisposeScope"/> are also registered with it, as usual.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the problem.</exception>
    public static SafeTensorsCheckpoint Load(string path, Device device = default)
    {
        using var fs = OpenRead(path);
        SafeTensorsHeader header = SafeTensorsHeader.Read(fs, path);
        long largest = header.Entries.Select(e => e.ByteLength).DefaultIfEmpty(0).Max();
        var buffer = new byte[Math.Min(largest, ChunkBytes)];
        var tensors = new Dictionary<string, Tensor>(header.Entries.Count, StringComparer.Ordinal);
        try
        {
            foreach (SafeTensorsEntry e in header.Entries)
            {
                fs.Position = header.DataStart + e.Begin;
                Tensor t = ReadData(fs, e, buffer);
                if (device.Type != DeviceType.Cpu)
                {
                    using Tensor cpu = t;
                    t = cpu.To(device);
                }
                tensors.Add(e.Name, t);
            }
        }
        catch
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
            throw;
        }
        return new SafeTensorsCheckpoint(tensors, header.Metadata);
    }

    private static Tensor ReadData(Stream fs, SafeTensorsEntry e, byte[] buffer)
    {
        if (e.ByteLength <= buffer.Length)
        {
            Span<byte> bytes = buffer.AsSpan(0, (int)e.ByteLength);
            fs.ReadExactly(bytes);
            return Tensor.FromBytes(bytes, e.DType, e.Shape);
        }
        Tensor t = Tensor.Empty(e.Shape, e.DType);
        try
        {
            int step = buffer.Length / e.DType.ElementSize();
            using Tensor flat = t.View(-1); // [NumEl], shares t's storage
            for (long i = 0, n = e.NumEl; i < n; i += step)
            {
                int count = (int)Math.Min(step, n - i);
                Span<byte> bytes = buffer.AsSpan(0, count * e.DType.ElementSize());
                fs.ReadExactly(bytes);
                using Tensor src = Tensor.FromBytes(bytes, e.DType, [count]);
                using Tensor dst = flat.Narrow(0, i, count);
                dst.CopyFrom(src);
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads and validates only the header of <paramref name="path"/>: the entries (name, dtype, shape, offsets)
    /// and metadata, without touching the tensor data.
    /// </summary>
    /// <exception cref="InvalidDataException">The header is malformed; the message names the file and the problem.</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var fs = OpenRead(path);
        return SafeTensorsHeader.Read(fs, path);
    }

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
}
