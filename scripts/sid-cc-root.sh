#!/usr/bin/env bash
# Prints the path of a Debian unstable root holding a C compiler and pkg-config and nothing of
# Xen (no libxen*, no /usr/include/xen*), making it once and caching it outside the tree:
#   ${QXK_CACHE_DIR:-/var/cache/qubes-xen-kit}/sid-cc-root/<date>/
# Tests unpack the guest bundle at `/` of a copy of it and build programs against the bundle
# there: a header or library the bundle forgot cannot be found on the build host instead.
# Made with `debootstrap --variant=minbase sid` in a temporary folder beside the cache and
# renamed into place when complete; one maker at a time (flock). Needs root.
#
#   scripts/sid-cc-root.sh              # -> /var/cache/qubes-xen-kit/sid-cc-root/20261207
#   scripts/sid-cc-root.sh --refresh    # make a new one even if one is cached
set -euo pipefail
cache=${QXK_CACHE_DIR:-/var/cache/qubes-xen-kit}/sid-cc-root
packages="gcc libc6-dev pkg-config"
refresh=0
[ "${1:-}" = "--refresh" ] && refresh=1

mkdir -p "$cache" 2>/dev/null || {
  echo "error: cannot create the cache folder $cache; run as root or set QXK_CACHE_DIR to a writable folder" >&2
  exit 1
}
exec 9>"$cache/.make.lock"
flock 9

if [ "$refresh" -eq 0 ]; then
  for d in $(ls -1d "$cache"/2* 2>/dev/null | sort -r); do
    if [ -f "$d/.qxk-complete" ] && [ "$(cat "$d/.qxk-complete")" = "$packages" ]; then
      echo "$d"
      exit 0
    fi
  done
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "error: making the sid root needs root (debootstrap, chroot); run as root or set QXK_CACHE_DIR to a cache that already holds one" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "error: debootstrap is not installed; run scripts/setup-debian.sh" >&2
  exit 1
}
mirror=${QXK_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(LABEL) $(REPO_URI)' 2>/dev/null | awk '$1 == "Debian" { print $2; exit }')}
if [ -z "$mirror" ]; then
  echo "error: no Debian mirror in apt's sources (apt-get indextargets shows no repository labelled Debian); add one to /etc/apt/sources.list.d/ and run apt-get update" >&2
  exit 1
fi
mirror=${mirror%/}

tmp=$(mktemp -d "$cache/.make.XXXXXX")
cleanup() {
  mountpoint -q "$tmp/root/proc" 2>/dev/null && umount -l "$tmp/root/proc" || true
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
log=$tmp/make.log
echo "sid-cc-root: debootstrap --variant=minbase sid from $mirror, then $packages (a few minutes)" >&2
if ! debootstrap --variant=minbase sid "$tmp/root" "$mirror" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "error: debootstrap --variant=minbase sid $tmp/root $mirror failed (log above); check the mirror and network" >&2
  exit 1
fi
mount -t proc proc "$tmp/root/proc"
in_root() { chroot "$tmp/root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
# shellcheck disable=SC2086
if ! in_root apt-get install -y -q --no-install-recommends $packages >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "error: apt-get install $packages failed in the sid root (log above)" >&2
  exit 1
fi
in_root apt-get clean >/dev/null 2>&1 || true
# The point of this root: nothing of Xen. Linux's own UAPI headers (linux-libc-dev, which
# libc6-dev needs) include /usr/include/xen/{evtchn,gntdev,...}.h: the kernel's device
# interfaces, not Xen's. Anything else named xen is refused.
xen=$(cd "$tmp/root" && ls -d usr/include/*xen* usr/include/xen/* usr/lib/*/libxen* 2>/dev/null || true)
foreign=
for f in $xen; do
  owner=$(in_root dpkg -S "/$f" 2>/dev/null | cut -d: -f1)
  [ "$owner" = linux-libc-dev ] || foreign="$foreign $f(${owner:-no package})"
done
umount "$tmp/root/proc"
if [ -n "$foreign" ]; then
  echo "error: the sid root has Xen files:$foreign; it cannot prove a bundle self-contained" >&2
  exit 1
fi
echo "$packages" >"$tmp/root/.qxk-complete"
dest=$cache/$(date -u +%Y%m%d)
rm -rf --one-file-system "$dest"
mv "$tmp/root" "$dest"
echo "$dest"
