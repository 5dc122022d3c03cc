#!/usr/bin/env bash
# Runs on a GPU machine from the unpacked tools/cuda-package.sh tarball: builds the native layer against the
# machine's PyTorch libtorch (CUDA), then checks CUDA against the CPU (`cankit selftest --device cuda`) and runs
# `cankit bench cuda` (ViT-B/16 CAN step, CanKit vs PyTorch eager on the GPU: images/s, MFU), or the cankit command
# given instead. Without a visible GPU it builds and runs only a given command (e.g. `bench cuda --device cpu`).
#   ./tools/cuda-run.sh [cankit command...]        PYTHON=... picks the python whose PyTorch to build against
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "libtorch from $prefix (torch $("$py" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'))"
# One GPU: no NCCL process group (CANKIT_NCCL=1 builds it, for several GPUs). If the build fails (a libtorch newer
# than the layer knows), it is tried once more without the distributed backends and the CUDA allocator statistics,
# so the single-GPU path still runs.
build() {
  cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "$@" >native/configure.log 2>&1 \
    || { tail -n 30 native/configure.log; return 1; }
  cmake --build native/build -j "$(nproc)" >native/build.log 2>&1 || { grep -m 20 -B 2 -A 6 'error' native/build.log; return 1; }
}
nccl=$([[ ${CANKIT_NCCL:-0} == 1 ]] && echo ON || echo OFF)
if ! build -DCANKIT_WITH_NCCL="$nccl"; then
  echo "cuda-run: native build failed; retrying without the process groups and CUDA memory statistics"
  build -DCANKIT_WITH_NCCL=OFF -DCANKIT_WITH_GLOO=OFF -DCANKIT_WITH_CUDA_STATS=OFF
fi
grep -E "CanKit native" native/configure.log || true
export CANKIT_NATIVE_LIB="$PWD/native/build/libcankit_native.so"
# .NET needs ICU for culture data unless told to run without it; GPU images often lack libicu.
ldconfig -p 2>/dev/null | grep -q libicuuc || export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
# PyTorch's libtorch libraries, for the loader.
export LD_LIBRARY_PATH="$("$py" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'):${LD_LIBRARY_PATH:-}"
if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "cuda-run: PyTorch sees no CUDA device; native layer built, CUDA checks skipped"
  if (($#)); then ./bin/CanKit.Cli "$@"; fi
  exit
fi
# The selftest's verdict is the exit status; the benchmark runs either way (one pass on a lent GPU).
status=0
./bin/CanKit.Cli selftest --device cuda || status=$?
if (($#)); then ./bin/CanKit.Cli "$@"; else ./bin/CanKit.Cli bench cuda --python "$py"; fi
exit "$status"
