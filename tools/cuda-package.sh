#!/usr/bin/env bash
# Packs CanKit for a GPU machine that has CUDA and PyTorch (with libtorch) but no .NET:
# a self-contained, trimmed-free publish of the `cankit` command plus the native layer's sources, as one tarball.
#   tools/cuda-package.sh [OUT.tgz]      (default: out/cankit-cuda.tgz)
# On the GPU machine: tar xzf cankit-cuda.tgz && cd cankit && ./tools/cuda-run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/cankit-cuda.tgz}"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/cankit/tools" "$(dirname "$out")"
dotnet publish src/CanKit.Cli -c Release -r linux-x64 --self-contained true -p:PublishSingleFile=false \
  -o "$stage/cankit/bin" -v quiet -nologo
rm -f "$stage/cankit/bin/libcankit_native.so"     # built on the target against its libtorch
cp -r src/CanKit.Native "$stage/cankit/native"
rm -rf "$stage/cankit/native/build"
cp tools/cuda-run.sh "$stage/cankit/tools/"
[[ -f node_modules/plotly.js-dist-min/plotly.min.js ]] && mkdir -p "$stage/cankit/node_modules/plotly.js-dist-min" \
  && cp node_modules/plotly.js-dist-min/plotly.min.js "$stage/cankit/node_modules/plotly.js-dist-min/"
tar -C "$stage" -czf "$out" cankit
echo "wrote $out ($(du -h "$out" | cut -f1))"
