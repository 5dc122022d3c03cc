#!/usr/bin/env bash
# Downloads (resumable), verifies (MD5) and extracts CIFAR-10 and/or CIFAR-100, binary version.
#   data-scripts/fetch-cifar.sh [cifar10|cifar100|all] [ROOT]      (defaults: all, ./data)
# Result: ROOT/cifar-10-batches-bin/*.bin and ROOT/cifar-100-binary/*.bin (what CifarBinary reads).
set -euo pipefail
which="${1:-all}"; root="${2:-data}"
here="$(dirname "$0")"
case "$which" in
  cifar10|cifar100) sets=("$which") ;;
  all) sets=(cifar10 cifar100) ;;
  *) echo "usage: $0 [cifar10|cifar100|all] [ROOT]" >&2; exit 2 ;;
esac
for s in "${sets[@]}"; do
  "$here/cankit-data.sh" fetch "$s" --root "$root"
  "$here/cankit-data.sh" verify "$s" --root "$root"
done
