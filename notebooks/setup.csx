// Shared set-up, loaded by every notebook with #load "setup.csx" (C# scripts do not pass `using`s on to the
// notebook that loads them, so each notebook repeats its usings after its #load). The packages come first, in each
// notebook's first cell, because the kernel takes `#r "nuget: …"` only in a cell, not in a loaded script:
//   #r "nuget: Plotly.NET.CSharp, 0.14.0"
//   #r "nuget: CanKit.Interactive, *-*"     (brings CanKit, TorchSharp-cpu with LibTorch, and SkiaSharp)
// CanKit comes from the local feed artifacts/feed/ that ./build.sh packs (notebooks/NuGet.config names it); `*-*` takes
// the newest build there (environment.md, "CanKit as NuGet packages").
using System.IO;
using TorchSharp;

// LibTorchSharp needs a newer libstdc++ than some distributions ship (Debian 12); this loads LibTorch with
// CanKit's workaround where needed, from the NuGet cache where the kernel restored it (and sets OpenMP's wait policy),
// and does nothing more elsewhere. It must run before the first torch.* call.
CanKit.Engine.EngineHost.Prepare();

// How tensors, image batches (new CanKit.Display.ImageBatch(x)), Plotly.NET charts and run metrics show when a cell
// ends in one (CanKit.Interactive). Loading it also lets Plotly.NET (built for FSharp.Core 10.1) use the kernel's
// FSharp.Core 10.0: CanKit.Interactive.FSharpCoreBinding explains why that is needed.
CanKit.Display.NotebookFormatters.Register();

/// <summary>Quick mode (CANKIT_QUICK=1 or `cankit notebooks run --quick`): small sizes, a few minutes per notebook on two CPU cores.</summary>
static bool Quick => Environment.GetEnvironmentVariable("CANKIT_QUICK") == "1";

/// <summary>The device the course runs on: the first GPU when TorchSharp has CUDA, else the CPU.</summary>
static torch.Device Dev => torch.cuda.is_available() ? torch.CUDA : torch.CPU;

/// <summary>A new empty folder under the temp folder for one run of a notebook, so that two runs at once (the tests and
/// `cankit notebooks run`) never write into the same one. Notebooks that cache long trainings use fixed folders instead.</summary>
static string FreshDir(string name) => Directory.CreateTempSubdirectory($"cankit-{name}-").FullName;

/// <summary>A check that can fail: stops the notebook with a message when the condition is false.</summary>
static void Check(bool condition, string what)
{
    if (!condition) throw new Exception($"check failed: {what}");
    Console.WriteLine($"check passed: {what}");
}

torch.manual_seed(0);
