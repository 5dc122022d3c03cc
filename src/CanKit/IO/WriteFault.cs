namespace CanKit.IO;

/// <summary>
/// A file that could not be written — the disk is full, the file-size limit (<c>ulimit -f</c>) is reached, the folder is
/// read-only — as one <see cref="IOException"/> naming the file, the reason and what is left: the kit writes every file it
/// replaces beside it and renames it over, so the previous file is intact.
/// </summary>
public static class WriteFault
{
    /// <summary>
    /// Whether <paramref name="e"/>, thrown while writing, is the file system refusing the bytes. .NET reports a write past
    /// the file-size limit (EFBIG) as an <see cref="ArgumentOutOfRangeException"/>, not an <see cref="IOException"/>.
    /// </summary>
    public static bool Is(Exception e) => e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException { ParamName: null or "value" };

    /// <summary>
    /// Writes <paramref name="text"/> (UTF-8, no byte-order mark) to a file beside <paramref name="path"/> and renames it over:
    /// a reader never sees half a file, and a failure leaves the previous one and is <see cref="For"/>'s error.
    /// </summary>
    public static void WriteAllText(string path, string text)
    {
        string full = Path.GetFullPath(path), tmp = $"{full}.{Guid.NewGuid():N}.tmp";
        try
        {
            File.WriteAllText(tmp, text, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (Is(e))
        {
            try { File.Delete(tmp); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw For(full, e);
        }
    }

    /// <summary>
    /// The error for <paramref name="path"/>: what went wrong and what is left — for a file replaced whole
    /// (<paramref name="left"/> null), whether the previous version is intact; otherwise <paramref name="left"/>.
    /// </summary>
    public static IOException For(string path, Exception e, string? left = null)
    {
        string reason = e switch
        {
            ArgumentOutOfRangeException => "the file-size limit was reached (ulimit -f, or the file system's largest file)",
            UnauthorizedAccessException => "permission denied: is the folder read-only?",
            _ => e.Message.Split('\n')[0].TrimEnd('.'),
        };
        left ??= File.Exists(path) ? "the previous file is intact" : "nothing was written";
        return new IOException($"{path}: could not be written ({reason}); {left}", e);
    }
}
