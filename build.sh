#!/usr/bin/env bash
# CanKit's entry point on a fresh Debian machine with the .NET SDK. Each command installs what it needs first.
#   ./build.sh main    the main job: pre-trains CAN on Fashion-MNIST, evaluates it, writes runs/main/report.html
#   ./build.sh test    builds everything and runs the whole test suite
# main and test also pack CanKit's NuGet packages into artifacts/feed/ (tools/pack-feed.sh), where the notebooks find them.
#   ./build.sh bench   engine benchmarks side by side with PyTorch (installs python3-torch)
set -euo pipefail
cd "$(dirname "$0")"
cmd="${1:-}"
shift || true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

case "$cmd" in
  main)
    bash tools/install-deps.sh
    bash src/CanKit.Native/build.sh
    dotnet build src/CanKit.Cli -c Release -v quiet -nologo
    bash tools/pack-feed.sh
    dotnet src/CanKit.Cli/bin/Release/net10.0/CanKit.Cli.dll main "$@"
    ;;
  test)
    # chromium: the browser tests; Jupyter's client, nbconvert and the scripts its pages load (require.js, MathJax):
    # the course on the real kernel.
    bash tools/install-deps.sh chromium python3-nbclient python3-jupyter-client jupyter-core jupyter-nbconvert libjs-requirejs libjs-mathjax
    bash tools/install-kernel.sh
    bash src/CanKit.Native/build.sh
    dotnet build CanKit.sln -c Release -v quiet -nologo
    bash tools/pack-feed.sh   # the course's notebooks and the package tests use the feed
    log=$(mktemp)
    set +e
    dotnet test CanKit.sln -c Release --no-build -nologo "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    # One plain summary line for the whole suite.
    awk '/(Passed|Failed)!/ { for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
         END { gsub(",", "", p); printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
    rm -f "$log"
    exit "$rc"
    ;;
  bench)
    bash tools/install-deps.sh python3-torch
    bash src/CanKit.Native/build.sh
    dotnet build src/CanKit.Cli -c Release -v quiet -nologo
    dotnet src/CanKit.Cli/bin/Release/net10.0/CanKit.Cli.dll bench "$@"
    ;;
  *)
    echo "usage: ./build.sh main | test | bench   (see README.md)" >&2
    exit 2
    ;;
esac
