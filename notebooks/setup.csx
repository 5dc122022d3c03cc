// Shared set-up, loaded by every notebook with #load "setup.csx" (C# scripts do not pass `using`s on to the
// notebook that loads them, so each notebook repeats the one line of usings after its #load).
// CanKit is referenced from the build of the `cankit` command (run ./build.sh test once to build it).
#r "../src/CanKit.Cli/bin/Release/net10.0/CanKit.dll"
using CanKit;
using CanKit.Data;
using CanKit.Methods;
using CanKit.Nn;
using CanKit.Objectives;
using CanKit.Optim;
using CanKit.Plots;
using CanKit.Vision;

/// <summary>Quick mode (CANKIT_QUICK=1 or `cankit notebooks run --quick`): small sizes, each notebook in about 2 minutes.</summary>
static bool Quick => Environment.GetEnvironmentVariable("CANKIT_QUICK") == "1";

/// <summary>The device the course runs on: the first GPU when the native layer has CUDA, else the CPU.</summary>
static Device Dev => Torch.CudaIsAvailable ? Device.Cuda(0) : Device.Cpu;

/// <summary>A check that can fail: stops the notebook with a message when the condition is false.</summary>
static void Check(bool condition, string what)
{
    if (!condition) throw new Exception($"check failed: {what}");
    Console.WriteLine($"check passed: {what}");
}

Torch.ManualSeed(0);
