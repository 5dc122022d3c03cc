using System.Runtime.InteropServices;
using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>The OpenMP spin count CanKit puts into the native environment before LibTorch loads.</summary>
public class OpenMpSettingsTests
{
    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr NativeGetEnv(string name);

    [Fact]
    public void Sets_a_short_spin_only_when_the_user_set_neither_wait_policy_nor_spin_count()
    {
        Assert.Equal(("GOMP_SPINCOUNT", "10000"), OpenMpSettings.Decide(_ => null));
        Assert.Null(OpenMpSettings.Decide(n => n == "OMP_WAIT_POLICY" ? "PASSIVE" : null));
        Assert.Null(OpenMpSettings.Decide(n => n == "GOMP_SPINCOUNT" ? "300000" : null));
        Assert.Null(OpenMpSettings.Decide(n => n is "OMP_WAIT_POLICY" or "GOMP_SPINCOUNT" ? "ACTIVE" : null));
    }

    [Fact]
    public void The_spin_count_reaches_the_native_environment_that_LibTorch_reads()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(torch.get_num_threads() >= 1);   // LibTorch (and its libgomp) loaded after the module initializer ran
        string? native = Marshal.PtrToStringAnsi(NativeGetEnv("GOMP_SPINCOUNT"));
        string? userSpin = Environment.GetEnvironmentVariable("GOMP_SPINCOUNT");
        if (userSpin is not null) Assert.Equal(userSpin, native);
        else if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null) Assert.Null(native);
        else Assert.Equal(OpenMpSettings.DefaultSpinCount, native);
    }
}
