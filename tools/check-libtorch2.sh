#!/usr/bin/env bash
# Compiles every native source against a libtorch 2.x's headers (syntax and API only, nothing is linked), so API
# drift shows up on a machine whose own libtorch is Debian's 1.13. The headers come from Debian trixie's packages,
# fetched with apt into a cache folder (not installed): libtorch-dev 2.6; with --cuda also CUDA 12.4, NCCL and
# libcu++ headers (about 1 GB to download once) for the CUDA allocator statistics and the NCCL process group.
# Deprecated libtorch APIs are errors (-DC10_NODEPRECATED, -Werror=deprecated-declarations).
#   tools/check-libtorch2.sh [--cuda]        CANKIT_HEADER_CACHE=DIR (default ~/.cache/cankit-libtorch2)
set -euo pipefail
cd "$(dirname "$0")/.."
cuda=0
[[ ${1:-} == --cuda ]] && cuda=1
cache=${CANKIT_HEADER_CACHE:-$HOME/.cache/cankit-libtorch2}
mkdir -p "$cache/lists/partial" "$cache/archives/partial" "$cache/debs" "$cache/root" "$cache/stub/c10/cuda/impl"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main contrib non-free" >"$cache/sources.list"
apt_opts=(-oDir::Etc::SourceList="$cache/sources.list" -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists="$cache/lists"
  -oDir::Cache="$cache" -oDebug::NoLocking=1)
packages=(libtorch-dev)
((cuda)) && packages+=(nvidia-cuda-dev libnccl-dev libcu++-dev)
missing=()
for p in "${packages[@]}"; do compgen -G "$cache/debs/${p}_*.deb" >/dev/null || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$cache/debs" && apt-get "${apt_opts[@]}" download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
fi
for p in "${packages[@]}"; do
  [[ -f $cache/root/.$p ]] && continue
  dpkg-deb --fsys-tarfile "$(compgen -G "$cache/debs/${p}_*.deb" | head -n 1)" | tar -x -C "$cache/root" --wildcards '*include*'
  touch "$cache/root/.$p"
done
inc="$cache/root/usr/include"
[[ -f $inc/torch/csrc/api/include/torch/version.h ]] || { echo "check-libtorch2: no libtorch headers in $inc" >&2; exit 1; }
version=$(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH)/ { v = v (v ? "." : "") $3 } END { print v }' "$inc/torch/csrc/api/include/torch/version.h")
# Generated in CUDA builds of libtorch only; the check needs the one macro it defines.
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' >"$cache/stub/c10/cuda/impl/cuda_cmake_macros.h"
flags=(-std=c++17 -fsyntax-only -fopenmp -DC10_NODEPRECATED -Werror=deprecated-declarations -DCANKIT_WITH_GLOO -DUSE_C10D_GLOO
  -I"$cache/stub" -I"$inc" -I"$inc/torch/csrc/api/include")
[[ -f /usr/include/dnnl.hpp ]] && flags+=(-DCANKIT_WITH_DNNL)
((cuda)) && flags+=(-DCANKIT_WITH_CUDA_STATS -DCANKIT_WITH_NCCL -DUSE_C10D_NCCL -isystem "$inc")
failed=0
for f in src/CanKit.Native/src/*.cpp; do
  if out=$(g++ "${flags[@]}" "$f" 2>&1); then
    echo "ok    $f"
  else
    echo "FAIL  $f"
    echo "$out" | grep -E 'error' | head -5
    failed=1
  fi
done
echo "libtorch $version headers$( ((cuda)) && echo ', CUDA, NCCL'): $( ((failed)) && echo 'FAILED' || echo 'all sources compile')"
exit "$failed"
