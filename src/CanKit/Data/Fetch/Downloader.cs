using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace CanKit.Data.Fetch;

/// <summary>What a downloaded file must be. Any field left null is not checked.</summary>
public sealed record ExpectedFile(long? Size = null, string? Sha256 = null, string? Md5 = null)
{
    public bool IsEmpty => Size is null && Sha256 is null && Md5 is null;
}

/// <summary>Bytes so far and the total when the server told it.</summary>
public readonly record struct DownloadProgress(long Bytes, long? Total, bool Resumed);

/// <summary>
/// Resumable HTTP downloads: bytes go to <c>&lt;file&gt;.part</c>; a later attempt (in this call after a dropped
/// connection, or in a later run) asks for the rest with an HTTP Range request and appends when the server answers
/// 206 from the right offset (and starts over when it answers 200). The finished file is checked against its
/// size, SHA-256 and MD5 before it is renamed into place; a mismatch deletes it and throws.
/// Every wait is bounded: <see cref="IdleTimeout"/> per read, <see cref="MaxAttempts"/> attempts.
/// </summary>
public sealed class Downloader(HttpClient http)
{
    /// <summary>How long one read may stall before the attempt is abandoned (and resumed).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Attempts per file (each resumes where the last stopped).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>
    /// Attempts in a row that may time out without receiving a single byte before the download is given up: a server
    /// that accepts and then sends nothing costs at most this many <see cref="IdleTimeout"/>s, not every attempt's.
    /// </summary>
    public int MaxStalledAttempts { get; init; } = 2;

    /// <summary>Pause before attempt k is k × this.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Downloads <paramref name="url"/> to <paramref name="destination"/> unless a file that passes
    /// <paramref name="expected"/> is already there. Returns true when bytes were fetched.
    /// </summary>
    public async Task<bool> DownloadAsync(Uri url, string destination, ExpectedFile expected, IProgress<DownloadProgress>? progress = null,
                                          CancellationToken ct = default)
    {
        destination = Path.GetFullPath(destination);
        Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
        if (File.Exists(destination))
        {
            if (Verify(destination, expected) is not { } problem) return false;
            throw new InvalidDataException($"{destination} exists but {problem}; delete it to download again");
        }
        string part = destination + ".part";
        Exception? last = null;
        int attempts = 0, stalled = 0;
        for (int attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            ct.ThrowIfCancellationRequested();
            attempts = attempt;
            var received = new Received();
            try
            {
                await TransferAsync(url, part, progress, received, ct);
                last = null;
                break;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TimeoutException
                                      || e is OperationCanceledException && !ct.IsCancellationRequested)
            {
                last = e is OperationCanceledException
                    ? new TimeoutException($"no data for {IdleTimeout.TotalSeconds:G4} s", e)
                    : e;
                if (e is HttpRequestException { StatusCode: { } code } && (int)code is >= 400 and < 500 and not 408 and not 429 and not 416) break;
                stalled = e is OperationCanceledException && received.Bytes == 0 ? stalled + 1 : 0;
                if (stalled >= MaxStalledAttempts)
                {
                    last = new TimeoutException($"the server sent nothing for {IdleTimeout.TotalSeconds:G4} s, {stalled} time(s) in a row", e);
                    break;
                }
                if (attempt < MaxAttempts) await Task.Delay(RetryDelay * attempt, ct);
            }
        }
        if (last != null)
            throw new IOException($"download of {url} failed after {attempts} attempt(s) ({last.Message})" +
                                  (File.Exists(part) ? $"; the partial file {part} is kept and a later run resumes it" : ""), last);

        if (Verify(part, expected) is { } bad)
        {
            File.Delete(part);
            throw new InvalidDataException($"{url}: downloaded file {bad}; it was deleted (a corrupted transfer or a changed file on the server)");
        }
        File.Move(part, destination, overwrite: true);
        return true;
    }

    // One attempt: resume from the .part length when there is one.
    private sealed class Received { public long Bytes; }

    private async Task TransferAsync(Uri url, string part, IProgress<DownloadProgress>? progress, Received received, CancellationToken ct)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(IdleTimeout);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, idle.Token);
        if (have > 0 && response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The .part already holds the whole file (or more than the server has): let verification decide.
            long? total = response.Content.Headers.ContentRange?.Length;
            if (total == have) return;
            File.Delete(part);
            throw new IOException($"server refused to resume at byte {have} (file size {total?.ToString() ?? "unknown"}); restarting");
        }
        response.EnsureSuccessStatusCode();
        bool resumed = false;
        FileMode mode = FileMode.Create;
        long? length = response.Content.Headers.ContentLength;
        if (have > 0 && response.StatusCode == HttpStatusCode.PartialContent)
        {
            var range = response.Content.Headers.ContentRange;
            if (range?.From != have) throw new IOException($"server resumed at byte {range?.From} instead of {have}");
            (resumed, mode, length) = (true, FileMode.Append, range.Length);
        }
        else have = 0;  // 200: the server sent the whole file

        await using var body = await response.Content.ReadAsStreamAsync(idle.Token);
        await using var file = new FileStream(part, mode, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        long done = have, lastReport = -1;
        progress?.Report(new DownloadProgress(done, length, resumed));
        while (true)
        {
            idle.CancelAfter(IdleTimeout);
            int n = await body.ReadAsync(buffer, idle.Token);
            if (n == 0) break;
            received.Bytes += n;
            await file.WriteAsync(buffer.AsMemory(0, n), ct);
            done += n;
            if (done - lastReport >= 1 << 20) { progress?.Report(new DownloadProgress(done, length, resumed)); lastReport = done; }
        }
        await file.FlushAsync(ct);
        progress?.Report(new DownloadProgress(done, length, resumed));
        if (length is long total2 && done < total2) throw new IOException($"connection closed at byte {done} of {total2}");
    }

    /// <summary>Null when the file matches; otherwise what differs (size, then SHA-256, then MD5).</summary>
    public static string? Verify(string path, ExpectedFile expected)
    {
        long size = new FileInfo(path).Length;
        if (expected.Size is long s && s != size) return $"has {size} bytes, expected {s}";
        if (expected.Sha256 is null && expected.Md5 is null) return null;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        using (var f = File.OpenRead(path))
        {
            var buffer = new byte[1 << 20];
            int n;
            while ((n = f.Read(buffer)) > 0)
            {
                if (expected.Sha256 != null) sha.AppendData(buffer, 0, n);
                if (expected.Md5 != null) md5.AppendData(buffer, 0, n);
            }
        }
        if (expected.Sha256 is { } want && Convert.ToHexStringLower(sha.GetHashAndReset()) is var got && !got.Equals(want, StringComparison.OrdinalIgnoreCase))
            return $"has SHA-256 {got}, expected {want.ToLowerInvariant()}";
        if (expected.Md5 is { } wantMd5 && Convert.ToHexStringLower(md5.GetHashAndReset()) is var gotMd5 &&
            !gotMd5.Equals(wantMd5, StringComparison.OrdinalIgnoreCase))
            return $"has MD5 {gotMd5}, expected {wantMd5.ToLowerInvariant()}";
        return null;
    }

    /// <summary>The SHA-256 of a file as lower-case hex (to record a checksum the catalog does not know yet).</summary>
    public static string Sha256Of(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
