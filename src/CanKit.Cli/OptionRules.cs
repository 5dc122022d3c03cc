using System.CommandLine;
using System.Globalization;

namespace CanKit.Cli;

/// <summary>
/// Ranges attached to options where they are declared, so every flag is checked while the command line is parsed,
/// before any command runs or writes anything. A value out of range is one line naming the flag (exit code 2).
/// </summary>
internal static class OptionRules
{
    /// <summary>Adds the rule <paramref name="ok"/>; a value that breaks it is reported as "--flag: rule, got value".</summary>
    public static Option<T> Must<T>(this Option<T> option, Func<T, bool> ok, string rule)
    {
        option.Validators.Add(result =>
        {
            T value;
            try { value = result.GetValueOrDefault<T>(); }
            catch (Exception) { return; }   // a value that did not convert is reported by the parser itself
            if (!ok(value)) result.AddError($"{option.Name}: {rule}, got {Show(value)}");
        });
        return option;
    }

    public static Option<int> AtLeast(this Option<int> o, int min) => o.Must(v => v >= min, $"must be ≥ {min}");
    public static Option<long> AtLeast(this Option<long> o, long min) => o.Must(v => v >= min, $"must be ≥ {min}");
    public static Option<int> Between(this Option<int> o, int min, int max) => o.Must(v => v >= min && v <= max, $"must be in {min}..{max}");
    public static Option<int?> Between(this Option<int?> o, int min, int max) =>
        o.Must(v => v is not { } x || x >= min && x <= max, $"must be in {min}..{max}");

    /// <summary>A finite number above zero (NaN and ±∞ are refused: they pass a plain "> 0" test or poison the arithmetic).</summary>
    public static Option<double> PositiveFinite(this Option<double> o) => o.Must(v => v > 0 && double.IsFinite(v), "must be a finite number > 0");
    public static Option<double?> PositiveFinite(this Option<double?> o) =>
        o.Must(v => v is not { } x || x > 0 && double.IsFinite(x), "must be a finite number > 0");

    /// <summary>An absolute http(s) URL.</summary>
    public static Option<string?> HttpUrl(this Option<string?> o) =>
        o.Must(v => v is null || Uri.TryCreate(v, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps),
               "must be an absolute http:// or https:// URL");

    /// <summary>A folder to write into: it may not exist yet, but it may not be a file.</summary>
    public static Option<string> NotAFile(this Option<string> o) => o.Must(v => v is null || !File.Exists(v), "is a file; expected a folder");

    /// <summary>A folder to read from: it must exist.</summary>
    public static Option<string?> ExistingFolder(this Option<string?> o) =>
        o.Must(v => v is null || Directory.Exists(v), "is not a folder");

    private static string Show<T>(T value) => value switch
    {
        null => "nothing",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        string s => $"'{s}'",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
