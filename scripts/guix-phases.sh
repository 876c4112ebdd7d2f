#!/usr/bin/env bash
# Runs a channel package's real Guix build phases offline, inside the Guix chroot (run it with
# scripts/guix-run.sh, which starts the daemon): Guix cannot build here (no bootstrap binaries
# offline), but the derivation's own builders can run against the chroot's Debian tools.
#
#   guix-phases.sh CHANNEL PACKAGE UPSTREAM-CHECKOUT DATA-CHECKOUT WORK [start|full]
#
# UPSTREAM-CHECKOUT and DATA-CHECKOUT are checkouts (no .git) of the pinned commits; they are
# added to the store, and must land exactly where the package's git origins expect (the pins).
# Then the patched-source derivation's builder applies the series (its patch flags, so
# `--fuzz=0`), and the package derivation's builder runs every phase: its inputs are stand-ins
# (`bin` = Debian's tools with gcc-14, the GCC Guix 1.5.0 uses; empty `include` and `lib`;
# stub files where a phase calls `search-input-file`: QEMU, firmware, mini-os, the i686 cross
# compiler as `gcc-14 -m32`).
#
# `start` (the default) stops the builder once `make` compiles its first file in the `build`
# phase: every phase before it ran (unpack, Guix's and Qubes' patch and config phases,
# configure, the config check). `full` lets it run to the end (about 6 minutes on an idle
# 2-core machine for Xen 4.17); `validate-runpath`, the one phase that fails outside
# /gnu/store, ends it and is reported as not checked.
# Prints `phase NAME ok SECONDS` per finished phase, `compiling LINE` when make compiled, and
# leaves the full log in WORK/package.log. Exit status 0 when everything asked for ran.
set -euo pipefail
ch=$1 pkg=$2 upstream=$3 data=$4 work=$5 mode=${6:-start}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$work"

# Debian's tools for the phases, once per chroot (apt may find sid's Release file expired).
# python3-setuptools: sid's Python has no distutils (Guix 1.5.0's 3.11 still does), which
# Xen's tools/python installs with.
stamp=/var/lib/qxk-guix-phases-tools-2
if [ ! -f "$stamp" ]; then
  apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false -q "$@"; }
  apt_get update >"$work/apt.log" 2>&1
  apt_get install -y --no-install-recommends gcc-14 g++-14 make patch xz-utils zstd bzip2 \
    bison flex python3-dev python3-setuptools uuid-dev libyajl-dev libncurses-dev libglib2.0-dev libpixman-1-dev \
    zlib1g-dev liblzma-dev libzstd-dev libaio-dev libnl-3-dev libnl-route-3-dev acpica-tools \
    pkgconf perl gettext binutils file git ca-certificates >>"$work/apt.log" 2>&1 || {
    tail -n 20 "$work/apt.log" >&2
    echo "error: apt-get install of the build tools failed in the Guix chroot (log above)" >&2
    exit 1
  }
  touch "$stamp"
fi

drv=$(guix build -d --no-grafts -L "$ch" "$pkg")
echo "derivation $drv"
stand=$work/stand-ins
rm -rf "$stand" "$work/source" "$work/source-build" "$work/build"
mkdir -p "$stand"
facts=$(guix repl -- "$here/guix-phases.scm" "$drv" "$upstream" "$data" "$work" "$stand")
echo "$facts" | grep -E '^(source|patches) '
mi=$(echo "$facts" | awk '$1 == "module-import" { printf " -L %s", $2 }')

# One bin folder for every stand-in: Debian's tools, gcc-14 as gcc, and the stubs.
hostbin=$work/hostbin
rm -rf "$hostbin"
mkdir -p "$hostbin"
for f in /usr/bin/* /usr/sbin/*; do ln -sf "$f" "$hostbin/${f##*/}"; done
# `*-config` scripts find their prefix from the path they were called by: call them by theirs.
for f in /usr/bin/*-config; do
  rm "$hostbin/${f##*/}"
  printf '#!/bin/sh\nexec %s "$@"\n' "$f" >"$hostbin/${f##*/}"
  chmod +x "$hostbin/${f##*/}"
done
ln -sf /usr/bin/gcc-14 "$hostbin/gcc"; ln -sf /usr/bin/gcc-14 "$hostbin/cc"
ln -sf /usr/bin/cpp-14 "$hostbin/cpp"; ln -sf /usr/bin/g++-14 "$hostbin/g++"; ln -sf /usr/bin/g++-14 "$hostbin/c++"
printf '#!/bin/sh\nexec gcc-14 -m32 "$@"\n' >"$hostbin/i686-linux-gnu-gcc"
printf '#!/bin/sh\necho "stand-in QEMU: not run here" >&2\nexit 1\n' >"$hostbin/qemu-system-i386"
chmod +x "$hostbin/i686-linux-gnu-gcc" "$hostbin/qemu-system-i386"
for name in $(echo "$facts" | awk '$1 == "stand-in" { print $2 }' | sort -u); do
  d=$stand/$name
  mkdir -p "$d/include" "$d/lib"
  ln -sfn "$hostbin" "$d/bin"
  case $name in
    *mini-os*) touch "$d/minios.mk" ;;
    seabios-*) mkdir -p "$d/share/firmware" && touch "$d/share/firmware/bios.bin" ;;
    ovmf-*) mkdir -p "$d/share/firmware" && touch "$d/share/firmware/ovmf_ia32.bin" ;;
  esac
done

# 1. The patched source: the origin's builder applies the series.
t0=$(date +%s)
mkdir -p "$work/source-build"
# In an empty folder: the builder takes the first folder it finds there for the unpacked tree.
if ! (cd "$work/source-build" && env -i out="$work/source" HOME=/homeless-shelter \
  guile --no-auto-compile $mi "$work/source-builder.scm") >"$work/source.log" 2>&1; then
  tail -n 30 "$work/source.log"
  echo "error: the patched source's builder failed for $pkg (log: $work/source.log)" >&2
  exit 1
fi
echo "applied $(grep -c "^applying '" "$work/source.log") patches in $(($(date +%s) - t0)) s"
grep -o -- "^applying '.*'" "$work/source.log" | sed 's/^/patch-applied /' || true

# 2. The package's phases.
mkdir -p "$work/build"
cd "$work/build"
env -i out="$work/out" HOME=/homeless-shelter NIX_BUILD_CORES=2 NIX_BUILD_TOP="$work/build" \
  TMPDIR="$work/build" setsid guile --no-auto-compile $mi "$work/package-builder.scm" \
  >"$work/package.log" 2>&1 &
builder=$!
status=0
compiling=""
t0=$(date +%s)
# Follow the log: phases as they finish; in `start` mode stop at make's first compile.
while kill -0 "$builder" 2>/dev/null; do
  sleep 2
  if [ "$mode" = start ] && [ -z "$compiling" ] && grep -q "^starting phase \`build'" "$work/package.log"; then
    compiling=$(sed -n "/^starting phase \`build'/,\$p" "$work/package.log" |
      grep -m1 -E '^ *(CC|AS|LD) +[^ ]+\.(o|s)$|^gcc(-14)? .* -c ' || true)
    if [ -n "$compiling" ]; then
      kill -TERM -- "-$builder" 2>/dev/null || true
      break
    fi
  fi
done
wait "$builder" || status=$?
sed -n "s/^phase \`\(.*\)' succeeded after \([0-9.]*\) seconds$/phase \1 ok \2/p" "$work/package.log"
failed=$(sed -n "s/^phase \`\(.*\)' failed after .*/\1/p" "$work/package.log")
if [ "$mode" = full ] && [ "$failed" = validate-runpath ]; then
  echo "phase validate-runpath not checked: it needs the outputs in /gnu/store"
  failed=""
fi
echo "builder ran $(($(date +%s) - t0)) s"
if [ -n "$failed" ]; then
  tail -n 40 "$work/package.log"
  echo "error: phase $failed of $pkg failed (log: $work/package.log)" >&2
  exit 1
fi
if [ "$mode" = start ]; then
  [ -n "$compiling" ] || {
    tail -n 40 "$work/package.log"
    echo "error: the builder of $pkg ended (status $status) before make compiled anything (log: $work/package.log)" >&2
    exit 1
  }
  echo "compiling $compiling"
else
  # What Qubes' spec installs: xen.efi under the EFI vendor folder.
  find "$work/out/boot" -name '*.efi' 2>/dev/null | sed "s|^$work/out/|installed |" || true
fi
exit 0
