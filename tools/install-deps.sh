#!/usr/bin/env bash
# Installs CanKit's system dependencies on Debian/Ubuntu when they are missing; quick when all are present.
# The engine (TorchSharp with LibTorch) and the image codecs (SkiaSharp) come from NuGet with `dotnet build`.
#   dataset-fashion-mnist the offline dataset (/usr/share/datasets/fashion-mnist)
#   python3-nbformat      validates the course notebooks against the nbformat 4 schema in the tests
#   g++, libgloo-dev      build src/CanKit.Native (Gloo collectives for data-parallel training, Linux)
# Extra packages can be named as arguments (./build.sh test adds chromium and Jupyter's client for the course on the
# real kernel; ./build.sh bench adds python3-torch for the PyTorch comparison).
set -euo pipefail
pkgs=(dataset-fashion-mnist python3-nbformat g++ libgloo-dev "$@")
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
command -v dotnet >/dev/null || { echo "cankit: the .NET SDK (10) is required: see environment.md" >&2; exit 1; }
