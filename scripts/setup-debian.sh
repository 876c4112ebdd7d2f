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
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
stamp=/var/lib/apt/periodic/qubes-xen-kit-update-stamp
if [ "${#missing[@]}" -gt 0 ] || ! apt-cache showsrc xen >/dev/null 2>&1 || [ -z "$(apt-cache showsrc xen 2>/dev/null)" ]; then
  $SUDO apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
: "$stamp"
echo "setup: system packages ready" >&2
