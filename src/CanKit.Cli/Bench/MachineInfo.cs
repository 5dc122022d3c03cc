namespace CanKit.Cli.Bench;

/// <summary>Facts about the machine that a benchmark table must carry to be read later.</summary>
internal static class MachineInfo
{
    public static int Cores => Environment.ProcessorCount;

    /// <summary>The CPU model from /proc/cpuinfo, or "unknown".</summary>
    public static string CpuModel => Engine.CpuFeatures.Model;

    /// <summary>Peak resident memory of this process in bytes (VmHWM), or 0 where /proc is not there.</summary>
    public static long PeakRss()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
