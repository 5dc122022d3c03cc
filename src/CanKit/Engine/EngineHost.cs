namespace CanKit.Engine;

/// <summary>
/// The one call a host (the <c>cankit</c> command, the notebooks' <c>setup.csx</c>, a test run) makes to prepare the
/// native pieces CanKit stands on, before the first <c>torch.*</c> call: LibTorch's OpenMP settings
/// (<see cref="OpenMpSettings"/>) and TorchSharp's native library with the Debian 12 workaround
/// (<see cref="TorchSharpLoader"/>). Idempotent. CanKit's module initialiser makes the same calls when the assembly
/// loads, so a program that uses the library without calling this still works; calling it makes the order explicit and
/// lets a host report a failure where it chooses (this throws it; the initialiser prints it).
/// </summary>
/// <remarks>SkiaSharp's native library needs nothing from CanKit: every host CanKit runs in lists it, an app in its
/// <c>.deps.json</c> (from the <c>SkiaSharp.NativeAssets</c> packages) and the .NET Interactive kernel in the package
/// folders a <c>#r "nuget: CanKit"</c> restores.</remarks>
public static class EngineHost
{
    /// <summary>Prepares OpenMP and TorchSharp; throws when TorchSharp's native library cannot be prepared.</summary>
    public static void Prepare()
    {
        OpenMpSettings.Apply();
        TorchSharpLoader.EnsureLoaded();
    }
}
