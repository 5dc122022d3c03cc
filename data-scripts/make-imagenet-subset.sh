#!/usr/bin/env bash
# Builds an ImageNet subset (e.g. ImageNet-100) in ImageFolder layout from a local ImageNet copy.
#   data-scripts/make-imagenet-subset.sh IMAGENET_DIR CLASS_LIST OUT_DIR [symlink|hardlink|copy]
# IMAGENET_DIR has train/<wnid>/*.JPEG (and val/<wnid>/ if val is sorted into class folders);
# CLASS_LIST has one WordNet id per line (# comments allowed). Nothing is downloaded.
set -euo pipefail
[[ $# -ge 3 ]] || { echo "usage: $0 IMAGENET_DIR CLASS_LIST OUT_DIR [symlink|hardlink|copy]" >&2; exit 2; }
"$(dirname "$0")/cankit-data.sh" imagenet-subset --imagenet "$1" --classes "$2" --out "$3" --mode "${4:-symlink}"
