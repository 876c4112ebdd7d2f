#!/usr/bin/env bash
# The main job on the shipped definitions, as far as this machine's network allows:
#  1. load and validate every definition (file:line:column errors if one is wrong);
#  2. check that the committed Guix channel modules are current and that Guile reads them;
#  3. re-verify every pin against upstream (Qubes on GitHub, xenbits) when they are reachable,
#     else against the copies of the real repositories in ../shared/fixtures/git when present;
#  4. show what the Xen bindings were built from.
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary (not only examples): `cargo build --examples` alone leaves no target/debug/package-defs.
cargo build --quiet -p package-defs --bin package-defs
cargo build --quiet -p xen-toolstack --example xen-info
pd="${CARGO_TARGET_DIR:-target}/debug/package-defs"
unreachable=()
copies=""

echo "== definitions"
"$pd" list

echo "== Guix channel"
# The committed channel modules must be what the definitions generate.
"$pd" export guix --check
# Plain Guile reads the origins module; the packages module uses Guix's gexp syntax (#~, #$)
# and is loaded by real Guix in package-defs/tests/guix_real.rs.
m=guix/qubes-xen-kit/sources.scm
guile --no-auto-compile -c "(call-with-input-file \"$m\"
  (lambda (p) (let loop ((n 0)) (let ((x (read p))) (if (eof-object? x)
    (format #t \"$m: read ~a top-level forms~%\" n) (loop (+ n 1)))))))"

echo "== verify pins against upstream"
if timeout 10 git ls-remote --tags https://github.com/QubesOS/qubes-vmm-xen 'v4.17.6-6' >/dev/null 2>&1; then
  "$pd" verify
else
  unreachable+=("https://github.com/QubesOS/qubes-vmm-xen" "https://xenbits.xen.org")
  echo "upstream not reachable from this machine: 'package-defs verify' and 'update' need"
  echo "github.com and xenbits.xen.org (or mirrors given with --url-rewrite)"
  # The real repositories' copies beside the project (../shared/fixtures/git), served on
  # loopback under the real URLs: every pin is still checked against the real signed data.
  shared=${QXK_SHARED_DIR:-../shared}
  if [ -f "$shared/fixtures/git/qubes-vmm-xen.git.tar" ]; then
    echo "verifying against the copies of the real repositories in $shared/fixtures/git instead"
    cargo build --quiet -p test-servers --example serve-real
    served=$(mktemp)
    "${CARGO_TARGET_DIR:-target}/debug/examples/serve-real" >"$served" &
    server=$!
    trap 'kill $server 2>/dev/null; rm -f "$served"' EXIT
    for _ in $(seq 300); do [ -s "$served" ] && break; sleep 0.1; done
    rewrite=$(head -n1 "$served")
    if [ "${rewrite%%=*}" != PACKAGE_DEFS_URL_REWRITE ] || ! kill -0 "$server" 2>/dev/null; then
      echo "error: the loopback server for $shared/fixtures/git did not start (cargo run -p test-servers --example serve-real)" >&2
      exit 1
    fi
    env "$rewrite" "$pd" verify
    copies="every pin verified against the copies of the real repositories in $shared/fixtures/git"
  fi
fi

echo "== Xen toolstack bindings"
"${CARGO_TARGET_DIR:-target}/debug/examples/xen-info"

echo "== done"
if ((${#unreachable[@]})); then
  echo "not checked (could not reach): ${unreachable[*]}"
  if [ -n "$copies" ]; then echo "$copies"; fi
else
  echo "every pin re-verified against upstream"
fi
