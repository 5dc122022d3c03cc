using System.Runtime.CompilerServices;

namespace CanKit.Interactive;

/// <summary>Installs <see cref="FSharpCoreBinding"/> when the CanKit.Interactive assembly loads, before any of its types can
/// reach Plotly.NET (and so FSharp.Core).</summary>
static class InteractiveModuleInitializer
{
#pragma warning disable CA2255 // a library module initializer is the point: it must run before Plotly.NET's first use
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Initialize() => FSharpCoreBinding.Install();
}
