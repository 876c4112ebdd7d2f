#!/usr/bin/env bash
# Installs everything qubes-xen-kit needs on a Debian 12 (bookworm) machine.
# Idempotent: safe to run again; it only adds what is missing.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# `apt-get source xen` (xen-config and xen-sys tests) needs deb-src entries.
enable_deb_src() {
  local f=/etc/apt/sources.list.d/debian.sources
  if [ -f "$f" ]; then
    if grep -q '^Types: deb$' "$f"; then
      $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
      return 0
    fi
    grep -q '^Types: .*deb-src' "$f" && return 0
  fi
  if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list \
     && ! grep -q '^deb-src ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee -a /etc/apt/sources.list >/dev/null
  fi
}
enable_deb_src

PACKAGES=(
  # build: bindgen needs libclang; xen-sys links the Xen 4.17 toolstack libraries
  build-essential pkg-config clang libclang-dev libxen-dev
  # Debian's Xen source tree and what its header generation needs
  dpkg-dev autoconf automake libtool bison flex python3 python3-dev patch
  libyajl-dev uuid-dev libncurses-dev libglib2.0-dev libpixman-1-dev acpica-tools
  # real C xenstore clients for interop tests
  xenstore-utils
  # git server, signatures, NAR hash oracle, Scheme reader
  git gnupg nix-bin guile-3.0 curl ca-certificates
  # source-fetch tests build real .tar.xz tarballs with the xz CLI
  xz-utils
  # images: rootless disk images (sfdisk, mke2fs -d, debugfs), sparse tar, template RPM, qcow2
  fdisk e2fsprogs tar rpm qemu-utils
  # Guix channel checks: a Debian sid chroot with Debian's guix (scripts/guix-chroot.sh)
  debootstrap
  # qxk-tests e2e: boot real Xen + PV dom0 under QEMU TCG (initramfs: busybox, cpio; ELF check: file)
  qemu-system-x86 busybox-static cpio file gzip libgcc-s1 binutils
)

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

updated=0
if [ -z "$(apt-cache showsrc xen 2>/dev/null)" ]; then
  $SUDO apt-get update -qq
  updated=1
fi
# Two passes: installing one package can remove another (Debian 12 machines that
# carry a backported qemu-utils lose it to qemu-system-x86's dependencies); the
# second pass puts back what the first removed.
for pass in 1 2; do
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] && break
  if [ "$updated" -eq 0 ]; then
    $SUDO apt-get update -qq
    updated=1
  fi
  echo "setup: installing ${missing[*]} (pass $pass)" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
done
mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: error: still missing after install: ${missing[*]}" >&2
  exit 1
fi
# xen-config's tests and benchmark compare with kconfiglib (PyPI), an independent Kconfig implementation.
python3 -m pip --version >/dev/null 2>&1 || $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
python3 -c 'import kconfiglib' 2>/dev/null || python3 -m pip install --quiet --break-system-packages kconfiglib==14.1.0 2>/dev/null || python3 -m pip install --quiet kconfiglib==14.1.0
echo "setup: system packages ready" >&2
