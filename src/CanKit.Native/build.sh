#!/usr/bin/env bash
# Configures (once) and builds the native layer into $1. Called by CanKit.csproj during `dotnet build`.
# A missing libtorch becomes one MSBuild error line that names the set-up command.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
out="$1"
mkdir -p "$out"
args=(-S "$src" -B "$out" -DCMAKE_BUILD_TYPE=Release)
[[ -n "${Torch_DIR:-}" ]] && args+=("-DTorch_DIR=$Torch_DIR")
[[ -n "${CANKIT_CMAKE_ARGS:-}" ]] && read -r -a extra <<<"$CANKIT_CMAKE_ARGS" && args+=("${extra[@]}")
if ! command -v cmake >/dev/null; then
  echo "error CK0001: cmake is not installed; run ./build.sh test (installs cmake, g++, libtorch-dev) or see environment.md"
  exit 1
fi
if [[ ! -f "$out/CMakeCache.txt" || "$src/CMakeLists.txt" -nt "$out/CMakeCache.txt" ]]; then
  if ! cmake "${args[@]}" >"$out/configure.log" 2>&1; then
    if grep -q CANKIT_NO_LIBTORCH "$out/configure.log"; then
      echo "error CK0001: libtorch not found; run ./build.sh test (installs Debian libtorch-dev) or set Torch_DIR to a libtorch's share/cmake/Torch (see environment.md)"
    else
      echo "error CK0002: configuring the native layer failed; see $out/configure.log"
      tail -n 20 "$out/configure.log" | sed 's/^/  /'
    fi
    rm -f "$out/CMakeCache.txt"
    exit 1
  fi
fi
cmake --build "$out" -j "$(nproc)"
