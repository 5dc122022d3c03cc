using System.Runtime.CompilerServices;

namespace CanKit.Tests;

/// <summary>Prepares TorchSharp's native library when the test assembly loads: a test may call <c>torch.*</c> before it
/// touches any CanKit type, and TorchSharp initialises at its first call (see <c>TorchSharpLoader</c>).</summary>
static class EngineSetup
{
#pragma warning disable CA2255 // a test-assembly module initializer is exactly the intended use
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => CanKit.Engine.EngineHost.Prepare();
}
