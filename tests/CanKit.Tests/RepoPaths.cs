namespace CanKit.Tests;

/// <summary>Where the repository is, seen from the test assembly's folder.</summary>
internal static class RepoPaths
{
    /// <summary>The folder holding CanKit.sln above the test assembly.</summary>
    public static string Root()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "CanKit.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no CanKit.sln above {AppContext.BaseDirectory}");
    }
}
