namespace CanKit.Data;

/// <summary>
/// Where data sets are looked for, the same on Windows, macOS and Linux. A data root is a folder holding one sub-folder
/// per data set (<c>fashion-mnist/</c>, …). For a data set the places are, in order: an explicit root (a command's
/// <c>--data-root</c>, a loader's <c>root</c> argument), which is used alone when given; <c>$CANKIT_DATA/&lt;name&gt;</c>;
/// the per-user data root's <c>&lt;name&gt;</c> (<see cref="UserFolder"/>); and a system folder where the data set has one
/// (Debian's package for Fashion-MNIST). The first place that holds the data set's files is used.
/// </summary>
public static class DataRoot
{
    /// <summary>The environment variable naming a data root.</summary>
    public const string EnvironmentVariable = "CANKIT_DATA";

    /// <summary>One place looked at, and why it was.</summary>
    public readonly record struct Place(string Folder, string Why)
    {
        public override string ToString() => $"{Folder} ({Why})";
    }

    /// <summary><c>$CANKIT_DATA</c> as a full path, or null when it is unset or empty.</summary>
    public static string? FromEnvironment =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } v ? Path.GetFullPath(v) : null;

    /// <summary>
    /// The per-user data root: <c>cankit</c> in the folder the OS keeps per-user application data in —
    /// <c>$XDG_DATA_HOME</c> or <c>~/.local/share</c> on Linux, <c>~/Library/Application Support</c> on macOS,
    /// <c>%LOCALAPPDATA%</c> on Windows (.NET's <see cref="Environment.SpecialFolder.LocalApplicationData"/>). Null when the
    /// OS gives none (no home folder).
    /// </summary>
    public static string? UserFolder
    {
        get
        {
            string d = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData,
                                                 Environment.SpecialFolderOption.DoNotVerify);
            return string.IsNullOrEmpty(d) ? null : Path.Combine(d, "cankit");
        }
    }

    /// <summary>
    /// The data root a fetch writes into: <paramref name="root"/> when given, else <c>$CANKIT_DATA</c>, else
    /// <see cref="UserFolder"/>.
    /// </summary>
    public static string ForFetch(string? root) =>
        root is not null ? Path.GetFullPath(root)
        : FromEnvironment ?? UserFolder
          ?? throw new DirectoryNotFoundException(
              $"there is no per-user data folder (no home folder); pass --data-root DIR or set {EnvironmentVariable}");

    /// <summary>
    /// The places looked at for <paramref name="dataset"/>, in order. With <paramref name="root"/>: the root itself and its
    /// <c>&lt;name&gt;</c> sub-folder, nothing else. Without: <c>$CANKIT_DATA</c>'s and the per-user root's sub-folder, then
    /// <paramref name="system"/>.
    /// </summary>
    public static IReadOnlyList<Place> Places(string dataset, string? root, Place? system = null)
    {
        if (root is not null)
        {
            return [new(root, "the given data root"), new(Path.Combine(root, dataset), "the given data root's sub-folder")];
        }
        var places = new List<Place>();
        if (FromEnvironment is { } env) places.Add(new(Path.Combine(env, dataset), $"${EnvironmentVariable}"));
        if (UserFolder is { } user) places.Add(new(Path.Combine(user, dataset), "the per-user data folder"));
        if (system is { } s) places.Add(s);
        return places;
    }

    /// <summary>
    /// The first of <see cref="Places"/> that exists and <paramref name="holds"/> the data set. An explicit root itself
    /// counts when <paramref name="rootHolds"/> says so (default: <paramref name="holds"/>), so a folder with part of the
    /// files is used and its loader names what is missing. Otherwise a <see cref="DirectoryNotFoundException"/> whose one
    /// line names every place looked at, what was looked for (<paramref name="what"/>) and the command that fetches it.
    /// </summary>
    public static string Find(string dataset, string title, string? root, Func<string, bool> holds, string what,
                              Func<string, bool>? rootHolds = null, Place? system = null)
    {
        var places = Places(dataset, root, system);
        for (int i = 0; i < places.Count; i++)
        {
            var test = root is not null && i == 0 ? rootHolds ?? holds : holds;
            if (Directory.Exists(places[i].Folder) && test(places[i].Folder)) return places[i].Folder;
        }
        throw new DirectoryNotFoundException(Missing(dataset, title, root, places, what));
    }

    /// <summary>The one-line message of a data set found nowhere.</summary>
    public static string Missing(string dataset, string title, string? root, IReadOnlyList<Place> places, string what)
    {
        string looked = string.Join(", ", places);
        string unset = FromEnvironment is null && root is null ? $", {EnvironmentVariable} not set" : "";
        string fetch = root is not null
            ? $"cankit data fetch {dataset} --data-root {Quote(Path.GetFullPath(root))}"
            : $"cankit data fetch {dataset}";
        string into = root is null && SafeForFetch() is { } target ? $" (it writes into {Path.Combine(target, dataset)})" : "";
        return $"{title} not found: looked for {what} in {looked}{unset}; fetch it with `{fetch}`{into}";
    }

    private static string? SafeForFetch()
    {
        try { return ForFetch(null); }
        catch (DirectoryNotFoundException) { return null; }
    }

    private static string Quote(string path) => path.Contains(' ') ? $"\"{path}\"" : path;
}
