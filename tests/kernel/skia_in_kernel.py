#!/usr/bin/python3
"""Runs a small notebook in the real .NET Interactive kernel (kernelspec `.net-csharp`) that references CanKit's
build output with `#r`, round-trips a tensor image through PNG with CanKit.Data.ImageCodec (SkiaSharp) and checks
the pixels. Inside the kernel the host's deps.json does not list SkiaSharp's native library, so this passes only
when CanKit's DllImport resolver for SkiaSharp finds libSkiaSharp next to the referenced assemblies.

Usage: build first (`dotnet build src/CanKit.Cli -c Release -v q -nologo`), then
    /usr/bin/python3 tests/kernel/skia_in_kernel.py [bin folder]
Needs Debian's python3-nbclient and dotnet-interactive's `.net-csharp` kernelspec. Exit status 0 when the check passes.
"""
import os
import sys

import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                      os.path.join(HERE, "..", "..", "src", "CanKit.Cli", "bin", "Release", "net10.0"))

for name in ("TorchSharp.dll", "CanKit.dll", "SkiaSharp.dll"):
    if not os.path.isfile(os.path.join(BIN, name)):
        sys.exit(f"{os.path.join(BIN, name)} not found: build src/CanKit.Cli in Release first")

# The kernelspec runs `dotnet interactive`, which the dotnet host finds only when the global tools folder is on PATH.
tools = os.path.join(os.path.expanduser("~"), ".dotnet", "tools")
if os.path.isdir(tools) and tools not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")

cells = [
    f'#r "{BIN}/TorchSharp.dll"\n#r "{BIN}/CanKit.dll"',
    "CanKit.Engine.TorchSharpLoader.EnsureLoaded();\n"
    'Console.WriteLine($"loader: {CanKit.Engine.TorchSharpLoader.LastOutcome}");\n'
    "foreach (var line in CanKit.Engine.TorchSharpLoader.Log) Console.WriteLine($\"  {line}\");",
    # 3×5×7 RGB and 1×4×6 gray, every byte distinct enough that a channel mix-up or transposition shows.
    "using TorchSharp;\n"
    "var rgb = torch.arange(0, 3 * 5 * 7, dtype: torch.ScalarType.Int32).mul(2).remainder(256).to(torch.ScalarType.Byte).reshape(3, 5, 7);\n"
    "var gray = torch.arange(0, 24, dtype: torch.ScalarType.Int32).mul(11).remainder(256).to(torch.ScalarType.Byte).reshape(1, 4, 6);\n"
    "byte[] rgbPng = CanKit.Data.ImageCodec.EncodePng(rgb), grayPng = CanKit.Data.ImageCodec.EncodePng(gray);\n"
    "var rgbBack = CanKit.Data.ImageCodec.Decode(rgbPng, \"rgb.png\");\n"
    "var grayBack = CanKit.Data.ImageCodec.Decode(grayPng, \"gray.png\");\n"
    "static bool Same(torch.Tensor a, torch.Tensor b) => a.shape.SequenceEqual(b.shape) && a.data<byte>().ToArray().SequenceEqual(b.data<byte>().ToArray());\n"
    "bool ok = Same(rgbBack, rgb) && Same(grayBack, gray);\n"
    'Console.WriteLine($"rgb png {rgbPng.Length} bytes -> [{string.Join(", ", rgbBack.shape)}], gray png {grayPng.Length} bytes -> [{string.Join(", ", grayBack.shape)}]");\n'
    'Console.WriteLine($"SkiaSharpResolver: {CanKit.Engine.SkiaSharpResolver.LastOutcome}, loaded {CanKit.Engine.SkiaSharpResolver.ResolvedPath ?? \"(nothing: the runtime found it)\"}");\n'
    "foreach (var line in CanKit.Engine.TorchSharpLoader.Log.Where(l => l.Contains(\"SkiaSharp\"))) Console.WriteLine($\"  {line}\");\n"
    'Console.WriteLine(ok ? "SKIA_KERNEL_CHECK: PASS (PNG round trip is exact)" : "SKIA_KERNEL_CHECK: FAIL (pixels differ)");',
]

nb = nbformat.v4.new_notebook()
nb.metadata["kernelspec"] = {"name": ".net-csharp", "display_name": ".NET (C#)", "language": "C#"}
nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]

client = nbclient.NotebookClient(nb, kernel_name=".net-csharp", timeout=600, allow_errors=True)
client.execute()

passed = False
for i, cell in enumerate(nb.cells):
    print(f"--- cell {i} ---")
    print(cell.source)
    print(">>>")
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            print(out.text, end="" if out.text.endswith("\n") else "\n")
            passed |= "SKIA_KERNEL_CHECK: PASS" in out.text
        elif out.output_type == "error":
            print(f"ERROR {out.ename}: {out.evalue}")
        elif "data" in out:
            print(out.data.get("text/plain", ""))
print("RESULT:", "PASS" if passed else "FAIL")
sys.exit(0 if passed else 1)
