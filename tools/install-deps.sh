#!/usr/bin/env bash
# Installs CanKit's system dependencies on Debian/Ubuntu when they are missing; quick when all are present.
#   libtorch-dev          the engine (CPU libtorch 1.13 with headers and CMake config)
#   libopenblas0-pthread  BLAS for libtorch's GEMM: ~20x faster than Debian's reference BLAS (see environment.md)
#   libopenblas0-openmp   the same on OpenMP threads; CanKit loads it so GEMMs share libtorch's pool (docs/threads.md)
#   libgloo-dev           Gloo's headers, for the c10d process group of data-parallel training (docs/distributed.md)
#   cmake, g++            build the native layer
#   dataset-fashion-mnist the offline dataset (/usr/share/datasets/fashion-mnist)
#   libturbojpeg0-dev, libpng-dev  JPEG and PNG codecs (image folders, image grids)
#   libdnnl-dev           oneDNN's headers: float32 linear layers call the oneDNN matmul libtorch links (docs/performance.md)
#   ocl-icd-opencl-dev    OpenCL headers: Debian's oneDNN CMake config requires them (only "recommended" by libdnnl-dev)
#   python3-nbformat      validates the course notebooks against the nbformat 4 schema in the tests
# Extra packages can be named as arguments (e.g. python3-torch for the PyTorch comparison benchmarks).
set -euo pipefail
pkgs=(libtorch-dev libopenblas0-pthread libopenblas0-openmp libgloo-dev cmake g++ dataset-fashion-mnist libturbojpeg0-dev libpng-dev libdnnl-dev ocl-icd-opencl-dev python3-nbformat "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cankit: installing ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "cankit: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# libtorch links libblas.so.3; make sure the alternative points at OpenBLAS, not the reference BLAS.
alt=libblas.so.3-$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
if command -v update-alternatives >/dev/null && update-alternatives --query "$alt" >/dev/null 2>&1; then
  current=$(update-alternatives --query "$alt" | awk '/^Value:/{print $2}')
  if [[ "$current" != *openblas* ]]; then
    target=$(update-alternatives --query "$alt" | awk '/^Alternative:/{print $2}' | grep openblas | head -n1)
    if [[ -n "$target" ]]; then
      echo "cankit: selecting OpenBLAS for $alt"
      s=(); [[ $(id -u) -ne 0 ]] && s=(sudo)
      "${s[@]}" update-alternatives --set "$alt" "$target" >/dev/null
    fi
  fi
fi
command -v dotnet >/dev/null || { echo "cankit: the .NET SDK (10) is required: see environment.md" >&2; exit 1; }
