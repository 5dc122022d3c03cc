namespace CanKit.Cli.Bench;

/// <summary>Facts about the machine and process that a benchmark table must carry to be read later.</summary>
internal static class MachineInfo
{
    public static int Cores => Environment.ProcessorCount;

    /// <summary>The CPU model from /proc/cpuinfo, or "unknown".</summary>
    public static string CpuModel
    {
        get
        {
            try
            {
                foreach (string line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal))
                        return line[(line.IndexOf(':') + 1)..].Trim();
            }
            catch (IOException) { }
            return "unknown";
        }
    }

    /// <summary>
    /// The BLAS / LAPACK / OpenMP shared objects mapped into this process: what libtorch really calls, which
    /// matters 20× for GEMM (reference BLAS vs OpenBLAS, see DESIGN.md). torch_worker.py reports the same.
    /// </summary>
    public static IReadOnlyList<string> LoadedBlas()
    {
        var libs = new SortedSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (string line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash < 0) continue;
                string path = line[slash..].Trim();
                string name = Path.GetFileName(path);
                if (name.Contains("blas") || name.Contains("gomp") || name.Contains("lapack")) libs.Add(path);
            }
        }
        catch (IOException) { }
        return libs.ToList();
    }

    /// <summary>The thread-related environment variables as this process sees them.</summary>
    public static string ThreadEnv() => string.Join(", ",
        new[] { "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CANKIT_NUM_THREADS" }
            .Select(v => $"{v}={Environment.GetEnvironmentVariable(v) ?? "unset"}"));
}
