#!/usr/bin/env bash
# Runs `cankit data ...` from this checkout (builds the CLI once, quietly). Used by the other scripts here.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dll="$repo/src/CanKit.Cli/bin/Release/net10.0/CanKit.Cli.dll"
if [[ ! -f "$dll" || -n "${CANKIT_REBUILD:-}" ]]; then
  dotnet build "$repo/src/CanKit.Cli" -c Release -v quiet -nologo >&2
fi
exec dotnet "$dll" data "$@"
