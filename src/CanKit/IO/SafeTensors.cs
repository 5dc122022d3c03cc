using CanKit.Tensors;

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
    /// <exception cref="ObjectDisposedException">A tensor has been disposed.</exception>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
                            IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, tensors, metadata, afterTensor: null);

    /// <summary>
    /// Writes a module's <c>state_dict()</c> (parameters and persistent buffers) under the names it registered,
    /// e.g. <c>blocks.0.attn.qkv.weight</c>: a ViT built with timm's layout exports under timm's names, so
    /// <c>timm.create_model(...).load_state_dict(safetensors.torch.load_file(path))</c> reads it.
    /// </summary>
    public static void Save(string path, nn.Module module, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        Save(path, module.state_dict(), metadata, afterTensor: null);
    }

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
            if (t.IsInvalid) throw new ObjectDisposedException($"tensor '{name}'", $"tensor '{name}' has been disposed and cannot be saved");
            SafeTensorsDTypes.Code(t.dtype); // rejects dtypes the format cannot hold, before any file is touched
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
        catch (Exception e)
        {
            try { File.Delete(temp); }
            catch (IOException) { } // keep the original error; a stray temp file is the lesser problem
            catch (UnauthorizedAccessException) { }
            if (WriteFault.Is(e)) throw WriteFault.For(full, e);
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
        foreach (var (name, t) in tensors.OrderByDescending(kv => SafeTensorsDTypes.WriterRank(kv.Value.dtype))
                                         .ThenBy(kv => kv.Key, StringComparer.Ordinal))
        {
            ScalarType dtype = t.dtype;
            long bytes = checked(t.NumberOfElements * SafeTensorsDTypes.ElementSize(dtype));
            plan.Add((new SafeTensorsEntry(name, dtype, t.shape, offset, offset + bytes), t));
            offset += bytes;
        }
        return plan;
    }

    // Row-major bytes of t, in pieces of at most ChunkBytes (a Span cannot exceed 2 GiB, and a non-contiguous or
    // device tensor is copied to the CPU one piece at a time rather than whole).
    private static void WriteData(Stream fs, Tensor t, SafeTensorsEntry entry)
    {
        if (entry.ByteLength == 0) return;
        int step = ChunkBytes / SafeTensorsDTypes.ElementSize(entry.DType);
        using var scope = torch.NewDisposeScope();
        Tensor flat = t.detach().reshape(-1);                                          // [NumEl], a copy only if strided
        for (long i = 0, n = entry.NumEl; i < n; i += step)
        {
            using var outer = torch.NewDisposeScope();
            Tensor piece = flat.narrow(0, i, Math.Min(step, n - i)).cpu().contiguous();
            fs.Write(piece.bytes);
        }
    }

    /// <summary>
    /// Loads every tensor in <paramref name="path"/> onto <paramref name="device"/> (CPU when null). The result
    /// owns the tensors: dispose it (<c>using var ckpt = SafeTensors.Load(path);</c>) or <see cref="SafeTensorsCheckpoint.Take"/>
    /// the ones to keep. The whole header is validated before any tensor memory is allocated. Tensors created
    /// inside a <see cref="DisposeScope"/> are also registered with it, as usual.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed; the message names the file and the problem.</exception>
    public static SafeTensorsCheckpoint Load(string path, Device? device = null)
    {
        using var fs = OpenRead(path);
        SafeTensorsHeader header = SafeTensorsHeader.Read(fs, path);
        var tensors = new Dictionary<string, Tensor>(header.Entries.Count, StringComparer.Ordinal);
        try
        {
            foreach (SafeTensorsEntry e in header.Entries)
            {
                fs.Position = header.DataStart + e.Begin;
                Tensor t = ReadData(fs, e);
                if (device is not null && device.type != DeviceType.CPU)
                {
                    using Tensor cpu = t;
                    t = cpu.to(device);
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

    // Reads straight into the tensor's own memory, a chunk at a time; no managed copy of the data is made.
    private static Tensor ReadData(Stream fs, SafeTensorsEntry e)
    {
        Tensor t = torch.empty(e.Shape, e.DType);
        if (e.ByteLength == 0) return t;
        try
        {
            int step = ChunkBytes / SafeTensorsDTypes.ElementSize(e.DType);
            using Tensor flat = t.view(-1);                                            // [NumEl], shares t's storage
            for (long i = 0, n = e.NumEl; i < n; i += step)
            {
                using Tensor piece = flat.narrow(0, i, Math.Min(step, n - i));
                fs.ReadExactly(piece.bytes);
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
    /// Copies the tensors of <paramref name="path"/> into <paramref name="module"/>'s <c>state_dict()</c> by name
    /// (converting dtype and device as needed). With <paramref name="strict"/>, a name the module has and the file
    /// lacks, or the other way round, is an error; a shape mismatch always is. Errors name the file and tensor.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is malformed or does not fit the module.</exception>
    public static void LoadInto(nn.Module module, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var ckpt = Load(path);
        Dictionary<string, Tensor> state = module.state_dict();
        if (strict)
        {
            var missing = state.Keys.Where(k => !ckpt.ContainsKey(k)).ToList();
            var unexpected = ckpt.Keys.Where(k => !state.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new InvalidDataException($"safetensors file '{path}' does not match the module: " +
                    (missing.Count > 0 ? $"missing {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? $" (+{missing.Count - 5} more)" : "")}" : "") +
                    (missing.Count > 0 && unexpected.Count > 0 ? "; " : "") +
                    (unexpected.Count > 0
                        ? $"unexpected {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? $" (+{unexpected.Count - 5} more)" : "")}"
                        : ""));
        }
        foreach (var (name, target) in state)
        {
            if (!ckpt.TryGetValue(name, out Tensor? source)) continue;
            if (!source.shape.SequenceEqual(target.shape))
                throw new InvalidDataException($"safetensors file '{path}': tensor '{name}' " +
                                               $"has shape {Shapes.Of(source)}, " +
                                               $"the module expects {Shapes.Of(target)}");
        }
        using (torch.no_grad())
            foreach (var (name, target) in state)
                if (ckpt.TryGetValue(name, out Tensor? source)) target.copy_(source);
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
