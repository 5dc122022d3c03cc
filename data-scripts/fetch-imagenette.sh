#!/usr/bin/env bash
# Downloads (resumable), verifies (MD5) and extracts Imagenette v2 at 160 or 320 px, and optionally decodes it
# once into ImageFolder caches of a given side.
#   data-scripts/fetch-imagenette.sh [160|320] [ROOT] [CACHE_SIDE]      (defaults: 160, ./data, no cache)
# Result: ROOT/imagenette2-<px>/{train,val}/<wnid>/*.JPEG
set -euo pipefail
px="${1:-160}"; root="${2:-data}"; side="${3:-}"
[[ "$px" == 160 || "$px" == 320 ]] || { echo "usage: $0 [160|320] [ROOT] [CACHE_SIDE]" >&2; exit 2; }
here="$(dirname "$0")"
args=(fetch "imagenette-$px" --root "$root")
[[ -n "$side" ]] && args+=(--cache-side "$side")
"$here/cankit-data.sh" "${args[@]}"
"$here/cankit-data.sh" verify "imagenette-$px" --root "$root"
