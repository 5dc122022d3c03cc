using System.Runtime.Intrinsics.X86;
using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>
/// The CPUID reading that stands in for /proc/cpuinfo where it cannot be read (Windows, macOS): on a Linux x86 machine both
/// can be read, and their bf16 flags must agree — Linux takes its flags from the same CPUID leaves.
/// </summary>
public class CpuFeaturesTests
{
    private static string? ProcField(string name)
    {
        if (!File.Exists("/proc/cpuinfo")) return null;
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal));
        return line is null ? null : line[(line.IndexOf(':') + 1)..].Trim();
    }

    [Fact]
    public void CpuidAgreesWithProcCpuinfoOnTheBf16FlagsAndTheModel()
    {
        var cpuid = CpuFeatures.FromCpuid();
        if (!X86Base.IsSupported)
        {
            Assert.Null(cpuid);                                          // not x86: nothing to ask
            return;
        }
        Assert.NotNull(cpuid);
        string? procFlags = ProcField("flags");
        if (procFlags is null) return;                                   // not Linux: CPUID is the only source here
        var proc = procFlags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Intersect(CpuFeatures.NativeBf16Flags).ToHashSet();
        var fromCpuid = cpuid.Value.Flags.Intersect(CpuFeatures.NativeBf16Flags).ToHashSet();
        // AVX-512 BF16 is counted by both only where the OS saves AVX-512 state, so they must be equal; a kernel without
        // AMX support hides amx_bf16 from /proc while CPUID still reports it, so for AMX /proc's must be within CPUID's.
        Assert.Equal(proc.Contains("avx512_bf16"), fromCpuid.Contains("avx512_bf16"));
        Assert.True(proc.IsSubsetOf(fromCpuid), $"/proc/cpuinfo: {string.Join(' ', proc)}; CPUID: {string.Join(' ', fromCpuid)}");
        // The model names need not agree: under a hypervisor Linux may name the CPU by its family ("AMD EPYC") while the
        // brand string is the hypervisor's ("Oxide Virtual Turin-like Processor" on one machine this ran on).
        Assert.False(string.IsNullOrWhiteSpace(cpuid.Value.Model));
    }
}
