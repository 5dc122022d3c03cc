#!/usr/bin/python3
"""Executes the course's notebooks in the real .NET Interactive kernel (kernelspec `.net-csharp`, the kernel VS Code
Polyglot Notebooks and Jupyter use) through Jupyter's nbclient, each in its own folder as working directory, in
quick mode (CANKIT_QUICK=1). Writes each executed notebook to OUT and prints one line per notebook with its time;
a failing cell is reported as `notebooks/NAME.ipynb: cell N: ENAME: message`. Exit status 0 when every notebook
ran through and no cell produced an error.

With --solutions, each ```csharp block of a notebook's hidden "**Solutions**" cell(s) is appended to the notebook as a
code cell (they use what the notebook's own cells define), the whole is executed the same way, and the line gives the
time of each solution; a failing one is reported as `notebooks/NAME.ipynb: solution N: ENAME: message`, and a notebook
without solutions fails.

With --full, the notebooks run in full mode (CANKIT_QUICK unset): their full sizes, for measuring full-mode times.

Usage: /usr/bin/python3 tests/kernel/run_course.py [--solutions] [--full] OUT [notebook.ipynb ...]   (default: every notebooks/*.ipynb)
The kernel's own log goes to OUT/kernel.log.
Needs a Release build of CanKit.sln: the notebooks restore CanKit.Interactive from the local feed artifacts/feed/, which
this script brings up to date with that build first (tools/pack-feed.sh; it packs nothing when the feed is current).
Also Debian's python3-nbclient and the `.net-csharp` kernelspec (`dotnet interactive jupyter install`;
tools/install-kernel.sh does both).
"""
import glob
import os
import re
import subprocess
import sys
import textwrap
import time

import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

args = sys.argv[1:]
solutions = "--solutions" in args
full = "--full" in args
args = [a for a in args if a not in ("--solutions", "--full")]
if not args or args[0].startswith("-"):
    sys.exit(__doc__)
out = os.path.abspath(args[0])
paths = [os.path.abspath(p) for p in args[1:]] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))
missing = [p for p in paths if not os.path.isfile(p)]
if missing or not paths:
    sys.exit(f"run_course.py: no such notebook: {', '.join(missing)}" if missing else "run_course.py: no notebooks found")
os.makedirs(out, exist_ok=True)

# The notebooks' `#r "nuget: CanKit.Interactive, *-*"` takes the newest package in the feed: pack this build's first, so
# that the notebooks never run an older build's CanKit.
packed = subprocess.run(["bash", os.path.join(ROOT, "tools", "pack-feed.sh")], capture_output=True, text=True)
if packed.returncode != 0:
    sys.exit(f"run_course.py: tools/pack-feed.sh failed:\n{packed.stdout}{packed.stderr}")

# The kernelspec runs `dotnet interactive`, which the dotnet host finds only when the global tools folder is on PATH.
tools = os.path.join(os.path.expanduser("~"), ".dotnet", "tools")
if os.path.isdir(tools) and tools not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")
if full:
    os.environ.pop("CANKIT_QUICK", None)
else:
    os.environ["CANKIT_QUICK"] = "1"
os.environ.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
os.environ.setdefault("DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT", "1")

# A fenced block in a Solutions cell: ```csharp … ```, at the start of a line or indented under a list item.
FENCE = re.compile(r"^([ \t]*)```csharp[ \t]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)


def solution_blocks(nb):
    """The csharp blocks of the notebook's markdown cells that start with **Solutions**, in order."""
    cells = [c for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("**Solutions**")]
    return [textwrap.dedent(m.group(2)).strip() for c in cells for m in FENCE.finditer(c.source)]


failed = 0
# The kernel's own log (ASP.NET start-up lines and warnings) goes to OUT/kernel.log, not between the report's lines.
kernel_log = open(os.path.join(out, "kernel.log"), "ab")
for path in paths:
    name = os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path
    nb = nbformat.read(path, as_version=4)
    first_solution = len(nb.cells)
    blocks = solution_blocks(nb) if solutions else []
    nb.cells.extend(nbformat.v4.new_code_cell(b) for b in blocks)
    start = time.time()
    client = nbclient.NotebookClient(nb, kernel_name=".net-csharp", timeout=900, allow_errors=True,
                                     resources={"metadata": {"path": os.path.dirname(path)}})
    began, seconds = {}, {}  # cell index → start, run time (s)
    client.on_cell_start = lambda cell, cell_index, **_: began.__setitem__(cell_index, time.time())
    client.on_cell_executed = lambda cell, cell_index, **_: seconds.__setitem__(cell_index, time.time() - began.get(cell_index, time.time()))
    problem = None
    if solutions and not blocks:
        problem = "no ```csharp blocks in a **Solutions** cell"
    try:
        client.execute(stdout=kernel_log, stderr=kernel_log)
    except Exception as e:  # the kernel died or a cell timed out: report it as this notebook's failure
        problem = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if errors and problem is None:
            e = errors[0]
            where = f"solution {i - first_solution + 1}" if i >= first_solution else f"cell {i + 1}"
            problem = f"{where}: {e.ename}: {' '.join(e.evalue.split())[:600]}"
    if problem is None and any(c.get("execution_count") is None for c in code):
        problem = "not every code cell ran"
    nbformat.write(nb, os.path.join(out, os.path.basename(path)))
    took = time.time() - start
    if problem:
        failed += 1
        print(f"FAIL {name} ({took:.0f} s): {name}: {problem}", flush=True)
    elif solutions:
        times = [seconds.get(first_solution + j, float("nan")) for j in range(len(blocks))]
        each = " · ".join(f"{j + 1}: {t:.1f} s" for j, t in enumerate(times))
        print(f"ok   {name} ({took:.0f} s, {len(code) - len(blocks)} code cells; {len(blocks)} solutions in {sum(times):.1f} s: {each})", flush=True)
    else:
        print(f"ok   {name} ({took:.0f} s, {len(code)} code cells)", flush=True)
print(f"{len(paths) - failed} of {len(paths)} notebooks passed on the .net-csharp kernel" + (" with their solutions" if solutions else ""))
sys.exit(1 if failed else 0)
