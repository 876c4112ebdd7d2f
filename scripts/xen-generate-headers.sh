#!/usr/bin/env bash
# Generates, inside a Xen source tree, the headers that are not in git but that the
# toolstack headers include: tools/include/xen/* (public headers) and libxl's
# _libxl_types.h / _libxl_types_json.h from libxl_types.idl. xen-sys builds against
# such a tree with XEN_SYS_SOURCE=TREE; `package-defs prepare` runs this on the
# patched tree so the bindings carry Qubes' interfaces.
#
#   scripts/xen-generate-headers.sh vendor/xen-4.17.4-5
set -euo pipefail
tree=${1:?usage: xen-generate-headers.sh XEN_SOURCE_TREE}
cd "$tree"
[ -f xen/Makefile ] && [ -d tools/libs/light ] || {
  echo "error: $tree is not a Xen source tree (no xen/Makefile or tools/libs/light)" >&2; exit 1; }
log=$(mktemp); trap 'rm -f "$log"' EXIT
run() { if ! "$@" >>"$log" 2>&1; then tail -40 "$log" >&2; echo "error: '$*' failed in $tree" >&2; exit 1; fi; }
if [ ! -x configure ]; then
  # Release tarballs ship configure; git checkouts and Debian's source do not.
  run ./autogen.sh
fi
for f in config.guess config.sub; do
  if [ ! -f "$f" ]; then
    src=$(ls /usr/share/automake-*/"$f" 2>/dev/null | tail -1)
    [ -n "$src" ] || { echo "error: $f missing and automake is not installed" >&2; exit 1; }
    cp "$src" "$f"
  fi
done
if [ ! -f config/Tools.mk ]; then
  run ./configure --disable-stubdom --disable-docs --disable-qemu-traditional --disable-ocamltools \
    --disable-seabios --disable-ipxe --disable-rombios --disable-xen --with-system-qemu=/usr/bin/qemu-system-i386
fi
run make -C tools/include
run make -C tools/libs/light _libxl_types.h _libxl_types_json.h
echo "headers generated in $tree" >&2
