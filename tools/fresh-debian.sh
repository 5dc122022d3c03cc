#!/usr/bin/env bash
# Proves CanKit's set-up the way a new user meets it: clones this repository into a pristine Debian 12 root and
# runs one command there (default: ./build.sh test). The root is made once with debootstrap (minbase plus what a
# new machine of the supported kind has: git, sudo, g++, make, cmake, python3, Node.js/npm) and kept as a tarball
# in $CANKIT_FRESH_CACHE (default /var/tmp); each run unpacks a new copy. The host's .NET SDK is bind-mounted
# (a new machine has one). Needs root.
#   usage: tools/fresh-debian.sh [COMMAND...]      e.g. tools/fresh-debian.sh './build.sh main --quick'
set -u
[[ $(id -u) -eq 0 ]] || { echo "fresh-debian: needs root (debootstrap, chroot, bind mounts)" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${*:-./build.sh test}
cache=${CANKIT_FRESH_CACHE:-/var/tmp}
base=$cache/cankit-debian12-base.tar
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
if [[ ! -f $base ]]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  tmp=$(mktemp -d "$cache/cankit-base.XXXX")
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [[ -n $mirror ]] || mirror=http://deb.debian.org/debian
  echo "fresh-debian: making the Debian 12 root once (debootstrap from $mirror)"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$tmp" "$mirror" >/dev/null 2>&1 || { echo "fresh-debian: debootstrap failed" >&2; exit 2; }
  cp /etc/resolv.conf "$tmp/etc/resolv.conf"
  chroot "$tmp" bash -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends
    git sudo libicu72 libssl3 g++ make cmake python3 nodejs npm procps xz-utils curl >/dev/null && apt-get clean' \
    || { echo "fresh-debian: base packages failed" >&2; exit 2; }
  tar -C "$tmp" -cf "$base" . && rm -rf "$tmp"
fi
root=$(mktemp -d "$cache/cankit-fresh.XXXX")
tar -C "$root" -xf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /usr/local/share/ca-certificates/* "$root/usr/local/share/ca-certificates/" 2>/dev/null && chroot "$root" update-ca-certificates >/dev/null 2>&1
cp /etc/npmrc "$root/etc/npmrc" 2>/dev/null
mkdir -p "$root/opt/dotnet" "$root/work"
mounts=(opt/dotnet proc sys dev dev/pts)
mount --bind "$dotnet_root" "$root/opt/dotnet"
for d in proc sys dev dev/pts; do mount --bind "/$d" "$root/$d"; done
ln -sf /opt/dotnet/dotnet "$root/usr/bin/dotnet"
git clone -q "$repo" "$root/work/CanKit"
start=$(date +%s)
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root/.dotnet/tools \
  CI=true DOTNET_CLI_TELEMETRY_OPTOUT=1 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  NUGET_CERT_REVOCATION_MODE=offline bash -c "cd /work/CanKit && $cmd"
rc=$?
echo "fresh-debian: '$cmd' exited $rc after $(( $(date +%s) - start )) s"
for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "$root/${mounts[i]}" 2>/dev/null || umount -l "$root/${mounts[i]}"; done
# never delete through a bind mount that is still attached
if grep -q " $root/" /proc/mounts; then echo "fresh-debian: root left at $root (mounts still attached)" >&2; else rm -rf "$root"; fi
exit $rc
