#!/usr/bin/env bash
# Benchmark (not a test): clean build of xen-sys, all libraries, on this machine.
# The peer, measured in the same run: a clean build of xen-sys's build
# dependencies alone (bindgen + cc + pkg-config + libc), the floor any
# bindgen-based -sys crate pays. The ratio shows what our build script and
# the generated code add on top.
#
#   scripts/bench-xen-sys-build.sh          # prints seconds and the ratio
#   scripts/bench-xen-sys-build.sh --smoke  # CI: the same steps, built incrementally in the
#                                           # workspace's target folder (seconds, no measurement)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jobs=${JOBS:-2}
now() { date +%s.%N; }
# Both builds clean, each in a target folder of its own; a smoke run reuses the test build's
# folder and features (xen-sys as its own tests build it), so both builds are nearly no-ops.
t_floor=$work/t-floor t_xen_sys=$work/t-xen-sys features=xenlight
if [ "${1:-}" = --smoke ] || [ -n "${QXK_BENCH_SMOKE:-}" ]; then
  t_floor=${CARGO_TARGET_DIR:-$root/target} t_xen_sys=$t_floor features=xenlight,xenvchan
  echo "SMOKE RUN: incremental builds, checks the script works, not a measurement"
fi

# Peer: a crate depending on exactly xen-sys's dependency set, same lock file.
mkdir -p "$work/floor/src"
cat > "$work/floor/Cargo.toml" <<TOML
[package]
name = "floor"
version = "0.0.0"
edition = "2021"
[workspace]
[dependencies]
libc = "0.2"
[build-dependencies]
bindgen = { version = "0.72", default-features = false, features = ["runtime", "experimental"] }
cc = "1"
pkg-config = "0.3"
TOML
echo 'fn main() {}' > "$work/floor/build.rs"
echo '' > "$work/floor/src/lib.rs"
cp "$root/Cargo.lock" "$work/floor/Cargo.lock"
(cd "$work/floor" && cargo fetch -q)

t0=$(now)
(cd "$work/floor" && CARGO_TARGET_DIR="$t_floor" cargo build -q --offline -j "$jobs")
t1=$(now)
(cd "$root" && CARGO_TARGET_DIR="$t_xen_sys" cargo build -q --offline -j "$jobs" -p xen-sys --features "$features")
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v j="$jobs" 'BEGIN {
  floor = b - a; full = c - b;
  printf "clean build, %d jobs: xen-sys (all 6 libraries) %.1f s; build-dependency floor %.1f s; ratio %.2fx; our own part %.1f s\n", j, full, floor, full / floor, full - floor
}'
