#!/usr/bin/env bash
# Prints the path of a pristine Debian Xen 4.17 source tree, fetching it once with
# `apt-get source` into a cache (default: target/qxk-cache/debian-xen). Tests that
# modify the tree copy it first; the cached tree is never written after creation.
#
#   scripts/debian-xen-source.sh            # -> .../xen-4.17.5+72-g01140da4e8
#   QXK_CACHE_DIR=/somewhere scripts/debian-xen-source.sh
set -euo pipefail
VERSION=${DEBIAN_XEN_VERSION:-4.17.5+72-g01140da4e8-1}
upstream=${VERSION%-*}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${QXK_CACHE_DIR:-$root/target/qxk-cache}/debian-xen
tree=$cache/xen-$upstream
if [ ! -f "$tree/.qxk-complete" ]; then
  mkdir -p "$cache"
  # One fill at a time: tests run this script concurrently, and a second fill must neither
  # fetch again nor replace the tree a first caller is already copying. The second waits for
  # the lock, then finds the tree complete.
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -f "$tree/.qxk-complete" ]; then
    tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if ! (cd "$tmp" && apt-get source -qq "xen=$VERSION" >"$tmp/apt.log" 2>&1); then
      cat "$tmp/apt.log" >&2
      echo "error: 'apt-get source xen=$VERSION' failed; run scripts/setup-debian.sh (it adds deb-src entries and dpkg-dev)" >&2
      exit 1
    fi
    touch "$tmp/xen-$upstream/.qxk-complete"
    # Only an incomplete tree (a fill killed before its rename) is ever removed.
    rm -rf "$tree"
    mv "$tmp/xen-$upstream" "$tree"
  fi
  exec 9>&-
fi
echo "$tree"
