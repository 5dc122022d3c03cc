using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;

namespace CanKit.Data;

// Writing the cache: decoding the listing in resumable chunks into the partial file, then the labels and header.
public static partial class ImageFolder
{
    // Version-2 layout: magic "CKIMGF02", int32 count, channels, side, side (little-endian), uint8 pixels
    // [count, C, side, side], then int32 labels[count]. Pixels go straight to their place in the partial file, so
    // a resumed build appends to it and the finished file is renamed, never copied.
    private static (SkippedImage[] Skipped, int Kept, CacheChunk[] Chunks, int ResumedAt) WriteCache(
        string root, List<(string Path, int Label)> files, int side, bool failOnUnreadable, IProgress<(int, int)>? progress,
        CancellationToken cancel, int chunkFiles)
    {
        int imageBytes = Channels * side * side;
        int chunk = chunkFiles > 0 ? chunkFiles : Math.Clamp((256 << 20) / imageBytes, 1, 256);   // at most 256 MiB of decoded pixels in flight
        string partial = PartialPath(root, side), record = ProgressPath(root, side);
        string listing = Listing(root, files);
        var prior = ReadProgress(record);
        if (prior is not null && (prior.Version != FormatVersion || prior.Side != side || prior.Listing != listing || prior.Files != files.Count ||
                                  prior.ChunkFiles != chunk || !File.Exists(partial) ||
                                  new FileInfo(partial).Length < HeaderBytes + (long)prior.Chunks.Sum(c => c.Images) * imageBytes))
            prior = null;   // another listing, side or chunk size, or a partial file shorter than recorded: start over

        FileStream px;
        try
        {
            px = new FileStream(partial, prior is null ? FileMode.Create : FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        }
        catch (IOException e) when (File.Exists(partial))
        {
            throw new IOException($"{partial}: cannot open the cache being built ({e.Message}); is another cankit building this cache?", e);
        }
        using (px)
        {
            var skipped = new List<SkippedImage>(prior?.Skipped ?? []);
            var chunks = new List<CacheChunk>(prior?.Chunks ?? []);
            int done = prior?.Done ?? 0, kept = chunks.Sum(c => c.Images);
            // Drop whatever was written after the last record; a new file starts with a zero header, written for real
            // last, once the count is known.
            px.SetLength(HeaderBytes + (long)kept * imageBytes);
            px.Position = px.Length;

            var buffer = new byte[chunk * imageBytes];
            var errors = new string?[chunk];
            var opts = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancel };
            progress?.Report((done, files.Count));
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (int start = done; start < files.Count; start += chunk)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(chunk, files.Count - start);
                Parallel.For(0, n, opts, i =>
                {
                    errors[i] = null;
                    try { DecodeInto(files[start + i].Path, side, buffer.AsSpan(i * imageBytes, imageBytes)); }
                    catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                    {
                        errors[i] = e.Message;
                    }
                });
                int first = kept;
                for (int i = 0; i < n; i++)
                {
                    string path = files[start + i].Path;
                    if (errors[i] is { } err)
                    {
                        if (failOnUnreadable) throw new InvalidDataException(err.StartsWith(path) ? err : $"{path}: {err}");
                        skipped.Add(new SkippedImage(path, err.StartsWith(path) ? err[path.Length..].TrimStart(':', ' ') : err));
                        continue;
                    }
                    var image = buffer.AsSpan(i * imageBytes, imageBytes);
                    px.Write(image);
                    sha.AppendData(image);
                    kept++;
                }
                px.Flush(flushToDisk: true);   // the record below must never name bytes that are not on disk
                chunks.Add(new CacheChunk(first, kept - first, Convert.ToHexString(sha.GetHashAndReset())));
                var now = new BuildProgress(FormatVersion, side, listing, files.Count, chunk, start + n, skipped.ToArray(), chunks.ToArray());
                WriteAtomic(record, JsonSerializer.SerializeToUtf8Bytes(now, Indented));
                progress?.Report((start + n, files.Count));
            }
            if (kept == 0)
                throw new InvalidDataException($"none of the {files.Count} images under {root} could be decoded; " +
                                               $"first error: {skipped[0].Path}: {skipped[0].Reason}");

            var dropped = skipped.Select(s => s.Path).ToHashSet(StringComparer.Ordinal);
            var labels = new byte[4L * kept];
            int k = 0;
            foreach (var (path, label) in files)
                if (!dropped.Contains(path)) BinaryPrimitives.WriteInt32LittleEndian(labels.AsSpan(4 * k++), label);
            px.Write(labels);
            Span<byte> header = stackalloc byte[HeaderBytes];
            MagicV2.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header[8..], kept);
            BinaryPrimitives.WriteInt32LittleEndian(header[12..], Channels);
            BinaryPrimitives.WriteInt32LittleEndian(header[16..], side);
            BinaryPrimitives.WriteInt32LittleEndian(header[20..], side);
            px.Position = 0;
            px.Write(header);
            px.Flush(flushToDisk: true);
            File.Move(partial, CachePath(root, side), overwrite: true);
            return (skipped.ToArray(), kept, chunks.ToArray(), prior?.Done ?? 0);
        }
    }

    // SHA-256 of the sorted (relative path, label) list: a resumed build must continue the same listing.
    private static string Listing(string root, List<(string Path, int Label)> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (path, label) in files) sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{Path.GetRelativePath(root, path)}\0{label}\n"));
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    private static BuildProgress? ReadProgress(string record)
    {
        if (!File.Exists(record)) return null;
        try
        {
            var p = JsonSerializer.Deserialize<BuildProgress>(File.ReadAllBytes(record));
            return p is { Listing: not null, Skipped: not null, Chunks: not null } && p.Done >= 0 && p.Done <= p.Files ? p : null;
        }
        catch (JsonException) { return null; }   // an unreadable record only costs a fresh start
    }

    // One file → RGB uint8 [3, side, side] written into dst.
    private static void DecodeInto(string path, int side, Span<byte> dst)
    {
        using var chw = ImageCodec.DecodeFile(path);                                            // [C, H, W]
        using var square = ImageCodec.ResizeCenterCrop(chw, side);                              // [C, side, side]
        byte[] px = square.data<byte>().ToArray();
        int plane = side * side;
        if (px.Length == Channels * plane) { px.CopyTo(dst); return; }
        for (int c = 0; c < Channels; c++) px.AsSpan(0, plane).CopyTo(dst.Slice(c * plane, plane));  // gray → RGB
    }

    private static void WriteAtomic(string path, byte[] bytes)
    {
        string tmp = path + $".{Environment.ProcessId}.tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
