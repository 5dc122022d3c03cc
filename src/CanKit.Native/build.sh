#!/usr/bin/env bash
# Builds libcankit_gloo.so (the Gloo collectives behind CanKit.Training.ProcessGroup) into src/CanKit.Native/bin/
# when it is missing or older than its source. Needs g++ and Debian's libgloo-dev (tools/install-deps.sh installs
# them); without them it says so and exits 0: everything but data-parallel training works without the library.
# Linux only (Gloo's TCP transport as Debian ships it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/gloo_shim.cpp" out="$here/bin/libcankit_gloo.so"
[[ "$(uname -s)" == Linux ]] || { echo "cankit: data-parallel training is Linux-only; libcankit_gloo not built"; exit 0; }
if [[ -f "$out" && "$out" -nt "$src" && "$out" -nt "$0" ]]; then exit 0; fi
if ! command -v g++ >/dev/null || [[ ! -f /usr/include/gloo/allreduce.h ]]; then
  echo "cankit: g++ or libgloo-dev is missing; libcankit_gloo (data-parallel training) not built (tools/install-deps.sh g++ libgloo-dev)"
  exit 0
fi
mkdir -p "$here/bin"
g++ -std=c++17 -O2 -fPIC -shared -Wall -Wextra -o "$out.tmp" "$src" -lgloo -pthread
mv -f "$out.tmp" "$out"
echo "cankit: built $out"
