namespace CanKit.Tests;

/// <summary>A fake system: the versions a Debian-like machine with GCC's libstdc++ up to GLIBCXX_3.4.N provides.</summary>
internal static class FakeSystem
{
    public static Func<string, IReadOnlySet<string>?> UpTo(int glibcxxMinor) => soname => soname switch
    {
        "libstdc++.so.6" => new HashSet<string>(
            new[] { "GLIBCXX_3.4" }.Concat(Enumerable.Range(1, glibcxxMinor).Select(j => $"GLIBCXX_3.4.{j}"))
            .Concat(new[] { "CXXABI_1.3" }).Concat(Enumerable.Range(1, 13).Select(j => $"CXXABI_1.3.{j}"))),
        "libc.so.6" or "libm.so.6" or "ld-linux-x86-64.so.2" or "ld-linux-aarch64.so.1" => new HashSet<string>(
            new[] { "GLIBC_2.2.5", "GLIBC_2.3.2", "GLIBC_2.3.3", "GLIBC_2.3.4", "GLIBC_2.17" }
            .Concat(Enumerable.Range(2, 35).Select(j => $"GLIBC_2.{j}"))),
        "libgcc_s.so.1" => new HashSet<string> { "GCC_3.0", "GCC_3.3", "GCC_3.3.1", "GCC_4.0.0", "GCC_4.2.0", "GCC_4.3.0", "GCC_7.0.0" },
        _ => null,
    };
}
