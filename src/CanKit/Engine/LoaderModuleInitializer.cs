using System.Runtime.CompilerServices;

namespace CanKit.Engine;

/// <summary>Sets <see cref="OpenMpSettings"/> and runs <see cref="TorchSharpLoader.EnsureLoaded"/> when the CanKit
/// assembly loads, before any CanKit code can reach TorchSharp (and LibTorch's OpenMP runtime reads its environment).</summary>
static class LoaderModuleInitializer
{
#pragma warning disable CA2255 // a library module initializer is the point: it must run before TorchSharp's first use
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize()
    {
        try { OpenMpSettings.Apply(); }
        catch (Exception e) { Console.Error.WriteLine($"CanKit: the OpenMP spin count could not be set: {e.Message}"); }
        // A throwing module initializer would make every CanKit type unusable; print the reason instead. The next
        // explicit EnsureLoaded() call throws it again, and torch.* fails with TorchSharp's own message.
        try { TorchSharpLoader.EnsureLoaded(); }
        catch (Exception e) { Console.Error.WriteLine($"CanKit: TorchSharp's native library could not be prepared: {e.Message}"); }
    }
}
