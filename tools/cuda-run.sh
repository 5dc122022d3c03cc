#!/usr/bin/env bash
# Runs on a GPU machine from the unpacked tools/cuda-package.sh tarball: builds the native layer against the
# machine's PyTorch libtorch (CUDA), then checks CUDA against the CPU and runs the step benchmark on the GPU.
#   ./tools/cuda-run.sh [extra cankit command...]
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "libtorch from $prefix (torch $("$py" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)'))"
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" >native/configure.log 2>&1 \
  || { tail -n 30 native/configure.log; exit 1; }
cmake --build native/build -j "$(nproc)"
export CANKIT_NATIVE_LIB="$PWD/native/build/libcankit_native.so"
# PyTorch's libtorch libraries, for the loader.
export LD_LIBRARY_PATH="$("$py" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'):${LD_LIBRARY_PATH:-}"
./bin/CanKit.Cli selftest --device cuda
if (($#)); then ./bin/CanKit.Cli "$@"; fi
