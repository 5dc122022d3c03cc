using System.Text.Json;

namespace CanKit;

/// <summary>
/// libtorch's operator profiler: every op this thread runs (and the backward pass it drives) is recorded while the
/// returned scope is open and written as a Chrome trace (chrome://tracing, Perfetto) when it is disposed.
/// <see cref="ProfileSummary.Read"/> turns the trace into a table of ops by self time.
/// </summary>
public sealed class ProfileScope : IDisposable
{
    private bool _open = true;

    /// <summary>The trace file written on dispose.</summary>
    public string Path { get; }

    internal ProfileScope(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        string? dir = System.IO.Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new DirectoryNotFoundException($"profile trace {path}: directory {dir} does not exist");
        Torch.EnsureInitialised();
        NativeCheck.Status(Native.ck_profile_begin(full), "Profile");
        Path = full;
    }

    public void Dispose()
    {
        if (!_open) return;
        _open = false;
        NativeCheck.Status(Native.ck_profile_end(), "Profile");
    }
}

/// <summary>One op's totals in a profile: calls, total time and self time (total less the ops it called).</summary>
public sealed record ProfiledOp(string Name, int Calls, double TotalMs, double SelfMs);

/// <summary>Per-op totals of a Chrome trace written by <see cref="Torch.Profile"/>.</summary>
public static class ProfileSummary
{
    /// <summary>Reads a trace and returns its ops by descending self time. Nesting is recovered per thread from the
    /// intervals: an op's self time is its duration less that of the ops directly inside it.</summary>
    public static IReadOnlyList<ProfiledOp> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"profile trace {path} not found", path);
        List<(string Name, string Thread, double Start, double Dur)> events = [];
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement : doc.RootElement.GetProperty("traceEvents");
            foreach (var e in root.EnumerateArray())
            {
                if (!e.TryGetProperty("ph", out var ph) || ph.GetString() != "X") continue;
                string thread = e.TryGetProperty("tid", out var tid) ? tid.ToString() : "";
                events.Add((e.GetProperty("name").GetString() ?? "?", thread, e.GetProperty("ts").GetDouble(), e.GetProperty("dur").GetDouble()));
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"profile trace {path} is not a Chrome trace: {ex.Message}", ex);
        }

        var totals = new Dictionary<string, (int Calls, double Total, double Self)>();
        foreach (var thread in events.GroupBy(e => e.Thread))
        {
            // Sorted by start, longest first, so a parent precedes the ops inside it.
            var list = thread.OrderBy(e => e.Start).ThenByDescending(e => e.Dur).ToList();
            var self = list.Select(e => e.Dur).ToArray();
            var stack = new Stack<int>();
            for (int i = 0; i < list.Count; i++)
            {
                while (stack.Count > 0 && list[stack.Peek()].Start + list[stack.Peek()].Dur <= list[i].Start) stack.Pop();
                if (stack.Count > 0) self[stack.Peek()] -= list[i].Dur;
                stack.Push(i);
            }
            for (int i = 0; i < list.Count; i++)
            {
                var t = totals.GetValueOrDefault(list[i].Name);
                totals[list[i].Name] = (t.Calls + 1, t.Total + list[i].Dur, t.Self + self[i]);
            }
        }
        return totals.Select(kv => new ProfiledOp(kv.Key, kv.Value.Calls, kv.Value.Total / 1000, kv.Value.Self / 1000))
                     .OrderByDescending(o => o.SelfMs).ToList();
    }
}
