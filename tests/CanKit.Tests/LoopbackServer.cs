using System.Net;
using System.Net.Sockets;

namespace CanKit.Tests;

/// <summary>
/// A minimal HTTP/1.1 file server on 127.0.0.1 (free port) honouring "Range: bytes=N-". With
/// <see cref="CutAfter"/>, the first full (non-range) transfer of a file sends that many bytes and drops the
/// connection.
/// </summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly string _prefix;
    private bool _cut;
    public Dictionary<string, byte[]> Files { get; } = new();
    public List<string> Ranges { get; } = [];
    public int CutAfter { get; set; } = -1;
    public int Requests;

    public LoopbackServer()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        _prefix = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(_prefix);
        _listener.Start();
        _loop = Task.Run(Serve);
    }

    public Uri Url(string path) => new(_prefix.TrimEnd('/') + path);

    private async Task Serve()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }   // stopped
            Interlocked.Increment(ref Requests);
            try { Handle(ctx); }
            catch (Exception) { /* client went away */ }
        }
    }

    private void Handle(HttpListenerContext ctx)
    {
        var res = ctx.Response;
        if (!Files.TryGetValue(ctx.Request.Url!.AbsolutePath, out var data)) { res.StatusCode = 404; res.Close(); return; }
        string? range = ctx.Request.Headers["Range"];
        long start = 0;
        if (range != null)
        {
            lock (Ranges) Ranges.Add(range);
            start = long.Parse(range["bytes=".Length..].TrimEnd('-'));
            if (start >= data.Length)
            {
                res.StatusCode = 416;
                res.Headers["Content-Range"] = $"bytes */{data.Length}";
                res.Close();
                return;
            }
            res.StatusCode = 206;
            res.Headers["Content-Range"] = $"bytes {start}-{data.Length - 1}/{data.Length}";
        }
        res.ContentLength64 = data.Length - start;
        if (range == null && CutAfter >= 0 && !_cut)
        {
            _cut = true;
            res.OutputStream.Write(data, 0, CutAfter);
            res.OutputStream.Flush();
            Thread.Sleep(50);
            res.Abort();   // drop the connection mid-body
            return;
        }
        res.OutputStream.Write(data, (int)start, (int)(data.Length - start));
        res.Close();
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
