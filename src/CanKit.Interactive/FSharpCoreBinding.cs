using System.Reflection;
using System.Runtime.Loader;

namespace CanKit.Interactive;

/// <summary>
/// Lets Plotly.NET run inside the .NET Interactive kernel. Plotly.NET 6.0 (and Plotly.NET.CSharp 0.14, DynamicObj 8.0)
/// are compiled against FSharp.Core 10.1.0.0; the dotnet-interactive tool 1.0.712001 ships and loads its own
/// FSharp.Core with assembly version 10.0.0.0 (file 10.1.326). The default load context cannot hold two versions of one
/// assembly, and it does not bind a request for 10.1 to a loaded 10.0, so the first chart fails with
/// <c>FileNotFoundException: FSharp.Core, Version=10.1.0.0</c> — also after <c>#r</c> of a 10.1 copy. This handler answers
/// that request with the FSharp.Core already loaded (what a binding redirect does on .NET Framework). It only runs
/// when the runtime's own binding failed, so applications that deploy FSharp.Core 10.1 (the <c>cankit</c> command)
/// never reach it. It is installed when CanKit.Interactive loads (<see cref="InteractiveModuleInitializer"/>), before
/// any of its charts can reach Plotly.NET.
/// </summary>
public static class FSharpCoreBinding
{
    private static int _installed;

    /// <summary>How many requests the handler has answered (for tests and diagnostics).</summary>
    public static int Redirects { get; private set; }

    public static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 1) return;
        AssemblyLoadContext.Default.Resolving += Resolve;
    }

    /// <summary>The loaded FSharp.Core when <paramref name="name"/> asks for FSharp.Core at a version that is not
    /// loaded; null otherwise (the next handler, or the failure, follows).</summary>
    public static Assembly? Resolve(AssemblyLoadContext context, AssemblyName name)
    {
        if (!string.Equals(name.Name, "FSharp.Core", StringComparison.OrdinalIgnoreCase)) return null;
        var loaded = context.Assemblies.FirstOrDefault(a => string.Equals(a.GetName().Name, "FSharp.Core", StringComparison.OrdinalIgnoreCase));
        if (loaded is null) return null;
        Redirects++;
        return loaded;
    }
}
