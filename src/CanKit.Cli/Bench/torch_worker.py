#!/usr/bin/python3
"""PyTorch side of `cankit bench`: runs the same workloads as CanKitWorkloads.cs on request.

Line protocol, one JSON object per line:
  stdin  {"op": "info", "threads": 2}                      -> {"engine": ..., "threads": ..., ...}
  stdin  {"op": "run", "name": "gemm", "args": {...}}      -> {"value": 123.4}
         (an optional "threads" in a run request sets the intra-op thread count first)
  stdin  {"op": "quit"}                                     -> (exits)
Any failure answers {"error": "..."}. Nothing else is ever written to stdout.
Workload names, arguments and units must match CanKitWorkloads.cs exactly.
"""
import json
import os
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # reported to the parent on the first request
    torch = None
    IMPORT_ERROR = str(e)


def loaded_blas():
    """The BLAS/OpenMP shared objects mapped into this process (what libtorch really calls)."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            name = os.path.basename(path)
            if "blas" in name or "gomp" in name or "lapack" in name:
                libs.add(path)
    return sorted(libs)


def gemm(n, reps, warmup):
    """GFLOP/s of an [n, n] x [n, n] float32 matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(warmup):
        torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    dt = time.perf_counter() - t0
    return 2.0 * n * n * n * reps / dt / 1e9


def add(numel, calls):
    """Microseconds per `a + b` on tiny float32 tensors (results freed as they are replaced)."""
    a, b = torch.randn(numel), torch.randn(numel)
    for _ in range(calls // 10):
        c = a + b
    t0 = time.perf_counter()
    for _ in range(calls):
        c = a + b
    dt = time.perf_counter() - t0
    del c
    return dt / calls * 1e6


def mm(n, calls):
    """Microseconds per [n, n] x [n, n] matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(calls // 10):
        c = torch.matmul(a, b)
    t0 = time.perf_counter()
    for _ in range(calls):
        c = torch.matmul(a, b)
    dt = time.perf_counter() - t0
    del c
    return dt / calls * 1e6


def vit(tokens, dim, hidden, iters):
    """Milliseconds per ViT-MLP-like step: linear [T, D]x[D, H] + gelu + layer_norm + linear back to D."""
    x = torch.randn(tokens, dim)
    w1, b1 = torch.randn(hidden, dim) * 0.05, torch.zeros(hidden)
    w2, b2 = torch.randn(dim, hidden) * 0.05, torch.zeros(dim)
    g, beta = torch.ones(hidden), torch.zeros(hidden)

    def step():
        h = F.linear(x, w1, b1)
        h = F.gelu(h)
        h = F.layer_norm(h, [hidden], g, beta)
        return F.linear(h, w2, b2)

    for _ in range(max(1, iters // 10)):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    dt = time.perf_counter() - t0
    return dt / iters * 1e3


WORKLOADS = {"gemm": gemm, "add": add, "mm": mm, "vit": vit}


def handle(req):
    if torch is None:
        return {"error": "cannot import torch: " + IMPORT_ERROR}
    op = req.get("op")
    if op == "info":
        torch.set_num_threads(int(req["threads"]))
        torch.mm(torch.randn(8, 8), torch.randn(8, 8))  # make sure BLAS is loaded before reading the maps
        return {
            "engine": "PyTorch " + torch.__version__,
            "threads": torch.get_num_threads(),
            "parallel_info": torch.__config__.parallel_info(),
            "blas": loaded_blas(),
        }
    if op == "run":
        if "threads" in req:
            torch.set_num_threads(int(req["threads"]))
        return {"value": WORKLOADS[req["name"]](**req["args"])}
    return {"error": "unknown op %r" % op}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req.get("op") == "quit":
                break
            reply = handle(req)
        except Exception as e:  # the parent shows the message; the worker stays alive
            reply = {"error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
