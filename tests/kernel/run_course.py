#!/usr/bin/python3
"""Executes the course's notebooks in the real .NET Interactive kernel (kernelspec `.net-csharp`, the kernel VS Code
Polyglot Notebooks and Jupyter use) through Jupyter's nbclient, each in its own folder as working directory, in
quick mode (CANKIT_QUICK=1). Writes each executed notebook to OUT and prints one line per notebook with its time;
a failing cell is reported as `notebooks/NAME.ipynb: cell N: ENAME: message`. Exit status 0 when every notebook
ran through and no cell produced an error.

Usage: /usr/bin/python3 tests/kernel/run_course.py OUT [notebook.ipynb ...]     (default: every notebooks/*.ipynb)
The kernel's own log goes to OUT/kernel.log.
Needs a Release build of src/CanKit.Cli (the notebooks reference its output), Debian's python3-nbclient and the
`.net-csharp` kernelspec (`dotnet interactive jupyter install`; tools/install-kernel.sh does both).
"""
import glob
import os
import sys
import time

import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

if len(sys.argv) < 2:
    sys.exit(__doc__)
out = os.path.abspath(sys.argv[1])
paths = [os.path.abspath(p) for p in sys.argv[2:]] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
missing = [p for p in paths if not os.path.isfile(p)]
if missing or not paths:
    sys.exit(f"run_course.py: no such notebook: {', '.join(missing)}" if missing else "run_course.py: no notebooks found")
os.makedirs(out, exist_ok=True)

# The kernelspec runs `dotnet interactive`, which the dotnet host finds only when the global tools folder is on PATH.
tools = os.path.join(os.path.expanduser("~"), ".dotnet", "tools")
if os.path.isdir(tools) and tools not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")
os.environ["CANKIT_QUICK"] = "1"
os.environ.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
os.environ.setdefault("DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT", "1")

failed = 0
# The kernel's own log (ASP.NET start-up lines and warnings) goes to OUT/kernel.log, not between the report's lines.
kernel_log = open(os.path.join(out, "kernel.log"), "ab")
for path in paths:
    name = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    client = nbclient.NotebookClient(nb, kernel_name=".net-csharp", timeout=900, allow_errors=True,
                                     resources={"metadata": {"path": os.path.dirname(path)}})
    problem = None
    try:
        client.execute(stdout=kernel_log, stderr=kernel_log)
    except Exception as e:  # the kernel died or a cell timed out: report it as this notebook's failure
        problem = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if errors and problem is None:
            e = errors[0]
            problem = f"cell {i + 1}: {e.ename}: {' '.join(e.evalue.split())[:600]}"
    if problem is None and any(c.get("execution_count") is None for c in code):
        problem = "not every code cell ran"
    nbformat.write(nb, os.path.join(out, os.path.basename(path)))
    took = time.time() - start
    if problem:
        failed += 1
        print(f"FAIL {name} ({took:.0f} s): {name}: {problem}", flush=True)
    else:
        print(f"ok   {name} ({took:.0f} s, {len(code)} code cells)", flush=True)
print(f"{len(paths) - failed} of {len(paths)} notebooks passed on the .net-csharp kernel")
sys.exit(1 if failed else 0)
