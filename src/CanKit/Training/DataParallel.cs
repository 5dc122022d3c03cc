namespace CanKit.Training;

/// <summary>
/// Training runs in one process. A request for several (a process count above 1, or a launcher's
/// <c>WORLD_SIZE</c> above 1 in the environment) is refused up front with <see cref="Unavailable"/>, rather than
/// silently training N independent copies that would overwrite each other's run folder.
/// </summary>
public static class DataParallel
{
    public const string Unavailable = "data-parallel training is not available in this version; see docs/distributed.md";

    /// <summary>Throws <see cref="NotSupportedException"/> when more than one process is asked for, here or by the environment.</summary>
    public static void EnsureSingleProcess(int processes = 1)
    {
        if (processes < 1) throw new ArgumentOutOfRangeException(nameof(processes), processes, "must be ≥ 1");
        if (processes > 1) throw new NotSupportedException($"{processes} processes requested: {Unavailable}");
        string? world = Environment.GetEnvironmentVariable("WORLD_SIZE");
        if (int.TryParse(world, out int w) && w > 1) throw new NotSupportedException($"WORLD_SIZE={w} in the environment: {Unavailable}");
    }
}
