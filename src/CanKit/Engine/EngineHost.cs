namespace CanKit.Engine;

/// <summary>
/// The one call a host (the <c>cankit</c> command, the notebooks' <c>setup.csx</c>, a test run) makes to prepare the
/// native pieces CanKit stands on, before the first <c>torch.*</c> call: LibTorch's OpenMP settings
/// (<see cref="OpenMpSettings"/>), TorchSharp's native library with the Debian 12 workaround
/// (<see cref="TorchSharpLoader"/>) and SkiaSharp's native library in hosts that do not list it
/// (<see cref="SkiaSharpResolver"/>). Idempotent. CanKit's module initialisers make the same calls when the assembly
/// loads, so a program that uses the library without calling this still works; calling it makes the order explicit and
/// lets a host report a failure where it chooses (this throws it; the initialisers print it).
/// </summary>
public static class EngineHost
{
    /// <summary>Prepares OpenMP, TorchSharp and SkiaSharp; throws when TorchSharp's native library cannot be prepared.</summary>
    public static void Prepare()
    {
        OpenMpSettings.Apply();
        SkiaSharpResolver.Install();
        TorchSharpLoader.EnsureLoaded();
    }
}
