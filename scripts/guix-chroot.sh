#!/usr/bin/env bash
# Prints the path of a Debian unstable chroot with Debian's `guix` package installed, making it
# once (about 1 GB, a few minutes) and caching it outside the tree:
#   ${QXK_CACHE_DIR:-/var/cache/qubes-xen-kit}/guix-chroot/guix-<version>/
# The key is the guix package version installed inside. A chroot is made in a temporary directory
# beside the cache and renamed into place only when complete, so an interrupted run leaves no
# half-made chroot behind. The mirror is the machine's own Debian mirror (from apt's sources).
#
#   scripts/guix-chroot.sh              # -> /var/cache/qubes-xen-kit/guix-chroot/guix-1.5.0-...
#   scripts/guix-chroot.sh --refresh    # make a new one even if one is cached
#
# Exit status 3 (with a line starting `skip:`) means Debian's archive does not serve `guix`
# any more: callers skip their Guix checks with that reason. Needs root (debootstrap, chroot).
set -euo pipefail
cache=${QXK_CACHE_DIR:-/var/cache/qubes-xen-kit}/guix-chroot
refresh=0
[ "${1:-}" = "--refresh" ] && refresh=1

# One maker at a time (parallel tests ask at once); the others wait, then reuse its chroot.
mkdir -p "$cache" 2>/dev/null || {
  echo "error: cannot create the cache folder $cache; run as root or set QXK_CACHE_DIR to a writable folder" >&2
  exit 1
}
exec 9>"$cache/.make.lock"
flock 9

if [ "$refresh" -eq 0 ]; then
  # Newest complete chroot first.
  for d in $(ls -1d "$cache"/guix-* 2>/dev/null | sort -rV); do
    if [ -f "$d/.qxk-complete" ]; then
      echo "$d"
      exit 0
    fi
  done
fi

# The machine's Debian mirror: the repository apt labels "Debian" (not Debian-Security), or
# QXK_DEBIAN_MIRROR (tests point it at a loopback copy).
mirror=${QXK_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(LABEL) $(REPO_URI)' 2>/dev/null | awk '$1 == "Debian" { print $2; exit }')}
if [ -z "$mirror" ]; then
  echo "error: no Debian mirror in apt's sources (apt-get indextargets shows no repository labelled Debian); add one to /etc/apt/sources.list.d/ and run apt-get update" >&2
  exit 1
fi
mirror=${mirror%/}

# Before a 1 GB debootstrap: does unstable still carry guix? Read its package index (a few
# MB). Debootstrap checks the archive's signatures later; this only decides skip or go on.
arch=$(dpkg --print-architecture)
index_url="$mirror/dists/sid/main/binary-$arch/Packages.xz"
index=$(mktemp)
trap 'rm -f "$index"' EXIT
if ! why=$(curl -fsSL --connect-timeout 30 --speed-limit 1024 --speed-time 60 --retry 2 -o "$index" "$index_url" 2>&1); then
  echo "error: cannot read Debian unstable's package index $index_url (${why#curl: }); check the mirror and network, or set QXK_DEBIAN_MIRROR" >&2
  exit 1
fi
if ! xz -t "$index" 2>/dev/null; then
  echo "error: Debian unstable's package index $index_url is not a valid xz file; check the mirror" >&2
  exit 1
fi
# Count rather than `grep -q`: an early exit of grep makes xz die of SIGPIPE, and pipefail
# would turn a found guix into a skip.
found=$(xz -dc "$index" | grep -c '^Package: guix$' || true)
if [ "${found:-0}" -eq 0 ]; then
  echo "skip: Debian's unstable archive at $mirror no longer serves the 'guix' package (not in $index_url); the Guix checks cannot run" >&2
  exit 3
fi
rm -f "$index"
trap - EXIT

if [ "$(id -u)" -ne 0 ]; then
  echo "error: making the Guix chroot needs root (debootstrap, chroot); run as root or set QXK_CACHE_DIR to a cache that already holds one" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "error: debootstrap is not installed; run scripts/setup-debian.sh" >&2
  exit 1
}


tmp=$(mktemp -d "$cache/.make.XXXXXX")
cleanup() {
  for m in proc dev/pts dev sys; do
    mountpoint -q "$tmp/root/$m" 2>/dev/null && umount -l "$tmp/root/$m" || true
  done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
log=$tmp/make.log
echo "guix-chroot: debootstrap --variant=minbase sid from $mirror (a few minutes)" >&2
if ! debootstrap --variant=minbase sid "$tmp/root" "$mirror" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "error: debootstrap --variant=minbase sid $tmp/root $mirror failed (log above); check the mirror and network" >&2
  exit 1
fi
mount -t proc proc "$tmp/root/proc"
in_chroot() { chroot "$tmp/root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
if ! in_chroot apt-cache show guix >/dev/null 2>&1; then
  echo "skip: Debian's unstable archive at $mirror no longer serves the 'guix' package; the Guix checks cannot run" >&2
  exit 3
fi
echo "guix-chroot: apt-get install guix" >&2
# `debootstrap --include=guix` leaves guile-gcrypt unconfigured: install with apt inside instead.
if ! in_chroot apt-get install -y -q --no-install-recommends guix >>"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "error: apt-get install guix failed in the sid chroot (log above)" >&2
  exit 1
fi
in_chroot apt-get clean >/dev/null 2>&1 || true
version=$(in_chroot dpkg-query -W -f='${Version}' guix)
umount "$tmp/root/proc"
echo "$version" >"$tmp/root/.qxk-complete"
dest=$cache/guix-$version
rm -rf --one-file-system "$dest"
mv "$tmp/root" "$dest"
echo "$dest"
