#!/usr/bin/env bash
# Benchmark for the `images` crate (not a test): a 2 GiB Qubes template holding ~500 MB of
# content, built by `qxk-image build` and by the same steps done by hand (sfdisk, mke2fs -d,
# GNU tar --sparse, split) in the same run. Prints wall times, their ratio and disk usage.
#
#   scripts/bench-images.sh [CONTENT_MB] [ROUNDS]
#   scripts/bench-images.sh --smoke    # 5 MB, one round, the test build (CI): checks it runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
if [ "${1:-}" = --smoke ] || [ -n "${QXK_BENCH_SMOKE:-}" ]; then
  content_mb=5 rounds=1
  cargo build -q -p images --manifest-path "$root/Cargo.toml"
  bin="$target/debug/qxk-image"
  echo "SMOKE RUN: checks the script works, not a measurement"
else
  content_mb=${1:-500}
  rounds=${2:-3}
  cargo build --release -q -p images --manifest-path "$root/Cargo.toml"
  bin="$target/release/qxk-image"
fi
work=$(mktemp -d "${TMPDIR:-/var/tmp}/bench-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tree: init, 1 MiB-ish files of incompressible data, some small files.
tree="$work/tree"
mkdir -p "$tree/sbin" "$tree/usr/lib/data" "$tree/etc"
printf '#!/bin/sh\n' > "$tree/sbin/init"; chmod 755 "$tree/sbin/init"
head -c "$((content_mb * 1000 * 1000))" /dev/urandom | split -b 2000000 -d -a 4 - "$tree/usr/lib/data/blob."
for i in $(seq 1 500); do echo "config $i" > "$tree/etc/small.$i"; done
cat > "$work/spec.toml" <<SPEC
name = "bench"
type = "qubes-template"
size = "2GiB"
root = { directory = "tree" }
SPEC
sync

ours() {
  rm -rf "$work/ours"
  "$bin" build "$work/spec.toml" -o "$work/ours" >/dev/null
}

by_hand() {
  rm -rf "$work/hand"; mkdir -p "$work/hand"
  local img="$work/hand/root.img" size=$((2048 * 1024 * 1024)) off=$((203 * 1024 * 1024))
  truncate -s "$size" "$img"
  sfdisk -q --no-reread --no-tell-kernel "$img" >/dev/null <<SF
label: gpt
label-id: f4796a2a-e377-45bd-b539-d6d49e569055
size=200MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=fa4d6529-56da-47c7-ae88-e2dfecb72621, name="EFI System"
size=2MiB, type=21686148-6449-6E6F-744E-656564454649, uuid=1e6c9db4-1e91-46c4-846a-2030dcb13b8c, name="BIOS boot partition"
type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=693244e6-3e07-47bf-ad79-acade4293fe7, name="Root filesystem"
SF
  mke2fs -q -F -t ext4 -T default -E "offset=$off,root_owner=0:0,nodiscard,assume_storage_prezeroed=1" \
    -d "$tree" "$img" "$(( (size - off - 1024 * 1024) / 1024 ))k"
  (cd "$work/hand" && tar --format=gnu --sparse -cf - root.img | split -d -b 1G - root.img.part.)
  rm -f "$img"
}

now() { date +%s.%N; }
ours_t=(); hand_t=()
timed() { sync; local s e; s=$(now); "$1"; e=$(now); awk -v a="$s" -v b="$e" 'BEGIN{printf "%.2f", b-a}'; }
# Flush dirty pages before each run and alternate the order, so neither side pays for the
# other's writeback.
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    hand_t+=("$(timed by_hand)"); ours_t+=("$(timed ours)")
  else
    ours_t+=("$(timed ours)"); hand_t+=("$(timed by_hand)")
  fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
o=$(median "${ours_t[@]}"); h=$(median "${hand_t[@]}")
echo "content: ${content_mb} MB in $(find "$tree" -type f | wc -l) files; rounds: $rounds"
echo "qxk-image build: ${ours_t[*]} s (median $o)"
echo "by hand        : ${hand_t[*]} s (median $h)"
echo "ratio ours/hand: $(awk -v o="$o" -v h="$h" 'BEGIN{printf "%.3f", o/h}')"
echo "parts (ours): $(du -cb "$work"/ours/root.img.part.* | tail -1 | cut -f1) bytes; parts (hand): $(du -cb "$work"/hand/root.img.part.* | tail -1 | cut -f1) bytes"
# Sparseness: the reassembled image allocates about its content, not 2 GiB.
mkdir -p "$work/check"
cat "$work"/ours/root.img.part.* | tar --sparse -xf - -C "$work/check"
echo "root.img: apparent $(du -b --apparent-size "$work/check/root.img" | cut -f1) bytes, allocated $(du -B1 "$work/check/root.img" | cut -f1) bytes"
