using System.Runtime.InteropServices;

namespace CanKit.Engine;

/// <summary>
/// How long LibTorch's idle OpenMP threads busy-wait, put into the native environment before LibTorch (and with it
/// its libgomp) loads; libgomp reads it once, when it loads.
/// </summary>
/// <remarks>
/// <para>LibTorch runs every parallel op, and oneMKL's GEMMs, on one libgomp pool whose work is split evenly between
/// the threads: an op ends when its slowest thread ends. By default an idle libgomp thread spins for ~300 000
/// iterations (milliseconds) before it sleeps. When the cores are shared (other processes, another LibTorch process
/// spinning the same way), a thread that spins keeps a core from the thread that still has work, and a training step
/// with ~920 parallel ops (the reference CAN step) pays a scheduler time slice on many of them. <c>GOMP_SPINCOUNT=10000</c>
/// (about 0.1 ms of spinning, then sleep) keeps the next op's start cheap on an idle machine and gives the core back on
/// a busy one: on 2 cores beside one busy process the CAN step took 1.7–1.9 s with it and 2.5–2.9 s with libgomp's
/// default; on an idle machine both take 0.72–0.83 s. Sleeping at once (<c>OMP_WAIT_POLICY=PASSIVE</c>) was ~4 % slower
/// there (environment.md, Threads).</para>
/// <para>A wait policy or spin count the user set wins: with <c>OMP_WAIT_POLICY</c> or <c>GOMP_SPINCOUNT</c> in the
/// environment nothing is changed (<c>OMP_WAIT_POLICY=PASSIVE</c> sleeps at once, <c>GOMP_SPINCOUNT=300000</c> is
/// libgomp's default). Only this process's native environment is changed: .NET's <c>Environment</c> and child
/// processes do not see it. Once LibTorch has loaded, changing it has no effect.</para>
/// </remarks>
public static class OpenMpSettings
{
    /// <summary>The spin count CanKit sets when the user set neither variable (iterations, ~0.1 ms).</summary>
    public const string DefaultSpinCount = "10000";

    [DllImport("libc", EntryPoint = "setenv")]
    static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>The (name, value) to set given the environment <paramref name="getenv"/>, or null to leave it alone.</summary>
    public static (string Name, string Value)? Decide(Func<string, string?> getenv) =>
        getenv("OMP_WAIT_POLICY") is null && getenv("GOMP_SPINCOUNT") is null ? ("GOMP_SPINCOUNT", DefaultSpinCount) : null;

    /// <summary>
    /// Sets <c>GOMP_SPINCOUNT</c> in the native environment unless the user set a wait policy or spin count (Linux and
    /// macOS; elsewhere nothing). Must run before LibTorch loads; CanKit's module initializer calls it.
    /// </summary>
    public static void Apply()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var decision = Decide(Environment.GetEnvironmentVariable);
        if (decision is null)
        {
            TorchSharpLoader.Trace("OMP_WAIT_POLICY or GOMP_SPINCOUNT set by the user: OpenMP wait left as set");
            return;
        }
        var (name, value) = decision.Value;
        // .NET's Environment.SetEnvironmentVariable does not reach native getenv on Unix; libc's setenv does.
        // overwrite 0: a value set natively by the host in the meantime is kept.
        if (SetEnv(name, value, 0) != 0) TorchSharpLoader.Trace($"setenv {name} failed; OpenMP wait left at libgomp's default");
        else TorchSharpLoader.Trace($"{name}={value} for LibTorch's OpenMP threads (spin ~0.1 ms, then sleep)");
    }
}
