#!/usr/bin/env bash
# Benchmark of `package-defs update` against local servers, as a ratio to the manual peer
# `curl` + `sha256sum` + `gpg --verify` of the same release tarball bytes, measured in the same run.
# Two modes: `upstream.origin = "tarball"` (the tarball is all upstream Xen costs: the issue's
# goal, at most 1.1x the peer) and the default git origin (signed tag + tree + NAR, plus the
# tarball pin), compared with the peer plus a `git clone` of the same repository.
#
# Setup (all made here, nothing from upstream): a ~45 MB upstream tree (incompressible data) in
# a git repo with a gpg-signed RELEASE tag, its .tar.gz + detached .sig served by a loopback
# HTTP server (python3 http.server), a small Qubes data repo with a signed tag; definitions are
# the shipped ones re-pinned to the generated keys, URLs rewritten to the local copies.
#
# Usage: scripts/bench-update.sh [SIZE_MB]   (PROFILE=dev to bench a debug build)
#        scripts/bench-update.sh --smoke     (1 MB, the test build: CI checks that it runs)
set -euo pipefail
if [ "${1:-}" = --smoke ] || [ -n "${QXK_BENCH_SMOKE:-}" ]; then
  SIZE_MB=1 PROFILE=dev
  echo "SMOKE RUN: checks the script works, not a measurement"
else
  SIZE_MB=${1:-45}
  PROFILE=${PROFILE:-release}
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [ "$PROFILE" = release ]; then
  cargo build -q --release -p package-defs; BIN=$ROOT/target/release/package-defs
else
  cargo build -q -p package-defs; BIN=$ROOT/target/debug/package-defs
fi
W=$(mktemp -d); trap 'kill $HTTP_PID 2>/dev/null || true; rm -rf "$W"' EXIT
export GNUPGHOME=$W/gnupg; mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --passphrase '' --quick-gen-key 'Bench Xen <x@example.org>' ed25519 sign never
FPR=$(gpg --with-colons --list-secret-keys | awk -F: '/^fpr/{print $10; exit}')
git_id=(-c user.name=Bench -c user.email=b@example.org -c user.signingkey="$FPR")

# Upstream tree + signed tag.
U=$W/xen; mkdir -p "$U/xen/include/public"
printf '#define __XEN_LATEST_INTERFACE_VERSION__ 0x00040e00\n' > "$U/xen/include/public/xen-compat.h"
# What update reads the tree's version from (xen/Makefile, as Xen writes it).
printf 'export XEN_VERSION       = 4\nexport XEN_SUBVERSION    = 17\nexport XEN_EXTRAVERSION ?= .5$(XEN_VENDORVERSION)\n' > "$U/xen/Makefile"
echo base > "$U/base"
for i in $(seq 1 "$SIZE_MB"); do head -c 1048576 /dev/urandom > "$U/blob$i"; done
git -C "$U" init -q -b main && git -C "$U" add -A && git -C "$U" "${git_id[@]}" commit -q -m x
git -C "$U" "${git_id[@]}" tag -s -m RELEASE-4.17.5 RELEASE-4.17.5

# Qubes data + signed tag.
Q=$W/qubes; mkdir -p "$Q"; echo 4.17.5 > "$Q/version"; echo 1 > "$Q/rel"
cp "$ROOT/../shared/fixtures/qubes-vmm-xen/v4.17.4-5/config" "$Q/config"
printf -- '--- a/base\n+++ b/base\n@@ -1,1 +1,2 @@\n base\n+q\n' > "$Q/1000-q.patch"
printf 'Name: xen\nPatch1000: 1000-q.patch\n' > "$Q/xen.spec.in"
git -C "$Q" init -q -b main && git -C "$Q" add -A && git -C "$Q" "${git_id[@]}" commit -q -m x
git -C "$Q" "${git_id[@]}" tag -s -m v4.17.5-1 v4.17.5-1

# Tarball + signature over HTTP.
mkdir -p "$W/www/release/xen/4.17.5"
T=$W/www/release/xen/4.17.5/xen-4.17.5.tar.gz
tar -C "$U" --exclude=.git -czf "$T" --transform 's,^\.,xen-4.17.5,' .
gpg -q --batch --detach-sign -o "$T.sig" "$T"
PORT=$((20000 + RANDOM % 20000))
python3 -m http.server -b 127.0.0.1 -d "$W/www" "$PORT" >/dev/null 2>&1 & HTTP_PID=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && break; sleep 0.1; done

# Definitions pinned to the bench key.
D=$W/definitions; cp -a "$ROOT/definitions" "$D"
# `xen` at the fixed v4.17.4-5 baseline, so that 4.17.5-1 is an upgrade.
cp "$ROOT"/package-defs/tests/data/baseline-4.17.4-5/*.toml "$D/"
gpg --armor --export "$FPR" > "$D/keys/$FPR.asc"
sed -i "s/23E3222C145F4475FA8060A783FE14C957E82BD9/$FPR/; s/0064428F455451B3EBE78A7F063938BA42CFA724/$FPR/" "$D"/*.toml
export PACKAGE_DEFS_URL_REWRITE="https://github.com/QubesOS/qubes-vmm-xen=file://$Q;https://xenbits.xen.org/git-http/xen.git=file://$U;https://downloads.xenproject.org/=http://127.0.0.1:$PORT/"

# The same definitions with the release tarball as upstream's origin.
DT=$W/definitions-tarball; cp -a "$D" "$DT"
sed -i 's/^\[upstream\]$/[upstream]\norigin = "tarball"/' "$DT/xen.toml"
grep -q '^origin = "tarball"' "$DT/xen.toml"

now() { date +%s.%N; }
# Warm-up: page cache and server, so neither side pays first-touch costs.
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/release/xen/4.17.5/xen-4.17.5.tar.gz"
t0=$(now)
curl -fsS -o "$W/peer.tar.gz" "http://127.0.0.1:$PORT/release/xen/4.17.5/xen-4.17.5.tar.gz"
curl -fsS -o "$W/peer.tar.gz.sig" "http://127.0.0.1:$PORT/release/xen/4.17.5/xen-4.17.5.tar.gz.sig"
sha256sum "$W/peer.tar.gz" >/dev/null
gpg -q --verify "$W/peer.tar.gz.sig" "$W/peer.tar.gz" 2>/dev/null
tg=$(now)
# The update also fetches the signed git tag: the peer for that half is a plain git clone.
git clone -q --bare "file://$U" "$W/peer-clone.git"
t1=$(now)
cp -a "$D" "$W/d1"
"$BIN" --quiet --definitions "$W/d1" --cache "$W/cache" update xen 4.17.5-1
t2=$(now)
cp -a "$D" "$W/d2"
"$BIN" --quiet --definitions "$W/d2" --cache "$W/cache" update xen 4.17.5-1
t3=$(now)
cp -a "$DT" "$W/t1"
"$BIN" --quiet --definitions "$W/t1" --cache "$W/cache-tarball" update xen 4.17.5-1
t4=$(now)
cp -a "$DT" "$W/t2"
"$BIN" --quiet --definitions "$W/t2" --cache "$W/cache-tarball" update xen 4.17.5-1
t5=$(now)
# The peer once more after our runs, so a drift of the machine shows.
curl -fsS -o "$W/peer2.tar.gz" "http://127.0.0.1:$PORT/release/xen/4.17.5/xen-4.17.5.tar.gz"
curl -fsS -o "$W/peer2.tar.gz.sig" "http://127.0.0.1:$PORT/release/xen/4.17.5/xen-4.17.5.tar.gz.sig"
sha256sum "$W/peer2.tar.gz" >/dev/null
gpg -q --verify "$W/peer2.tar.gz.sig" "$W/peer2.tar.gz" 2>/dev/null
t6=$(now)
# Both modes pinned exactly the bytes the peer hashed.
sum=$(sha256sum "$W/peer2.tar.gz" | cut -d' ' -f1)
grep -q "^sha256 = \"$sum\"" "$W/t1/xen.toml"
grep -q "^sha256 = \"$sum\"" "$W/d1/xen.toml"
awk -v t0="$t0" -v tg="$tg" -v t1="$t1" -v t2="$t2" -v t3="$t3" -v t4="$t4" -v t5="$t5" -v t6="$t6" -v mb="$SIZE_MB" 'BEGIN {
  p1 = tg - t0; p2 = t6 - t5; p = (p1 < p2 ? p1 : p2); g = t1 - tg; u = t2 - t1; c = t3 - t2; tu = t4 - t3; tc = t5 - t4
  printf "tarball %d MB, profile '"$PROFILE"'\n", mb
  printf "peer (curl+sha256sum+gpg --verify): %.2f s (runs: %.2f s before, %.2f s after; the faster is the peer)\n", p, p1, p2
  printf "origin = tarball: update %.2f s = %.2fx peer; cached rerun %.2f s = %.2fx peer\n", tu, tu / p, tc, tc / p
  printf "peer git clone of the upstream repo: %.2f s\n", g
  printf "origin = git: update (git tag + tree + NAR + tarball + sig) %.2f s = %.2fx (peer + git clone), %.2fx peer alone\n", u, u / (p + g), u / p
  printf "origin = git: cached rerun %.2f s = %.2fx peer\n", c, c / p }'
