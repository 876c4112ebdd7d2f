#!/usr/bin/env bash
# Benchmark for `package-defs build` (not a test): the build command against the same steps
# done by hand in the same run, on the real repositories of ../shared/fixtures/git (served
# as file:// URLs under their real names): patch loop (`patch -p1 --fuzz=0`), the config,
# `make xen`, then `./configure` + `make dist-tools`. Prints wall times and their ratio
# (goal: at most 1.05x). The command runs uncached (--no-cache); its fetch and signature
# checks are part of its time, the by-hand side starts from checked-out trees.
#
#   scripts/bench-build.sh [full|hypervisor] [JOBS]
#   BENCH_PROFILE=dev ROUNDS=2 scripts/bench-build.sh hypervisor
#   scripts/bench-build.sh --smoke   # CI: every step but the two builds' make (see below)
#
# A smoke run (seconds, not a measurement) does what a real one does up to make: the same
# served repositories, definitions and queries, the download cache filled by `verify`, the
# command's own fetch + signature checks + patch series + config (`package-defs prepare`, the
# first half of `build`, which fills the download cache itself) and, by hand, the checkout, patch loop and config, checked with
# `make -C xen olddefconfig`, which must equal xen-config's completion of the prepared tree
# (what `build` does next). Building Xen twice is what it leaves out.
set -euo pipefail
smoke=${QXK_BENCH_SMOKE:-}
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
mode=${1:-full}
jobs=${2:-$(nproc)}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${QXK_SHARED_DIR:-$root/../shared}
# BENCH_PROFILE=dev reuses the test build (the wrapper's own cost is small next to make's).
profile=${BENCH_PROFILE:-release}
if [ -n "$smoke" ]; then profile=dev; fi
cargo build --profile "$profile" -q -p package-defs -p xen-config --manifest-path "$root/Cargo.toml"
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
target=${CARGO_TARGET_DIR:-$root/target}
bin="$target/$dir/package-defs"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/bench-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

for r in qubes-vmm-xen xen; do tar -xf "$shared/fixtures/git/$r.git.tar" -C "$work"; done
export PACKAGE_DEFS_URL_REWRITE="https://github.com/QubesOS/qubes-vmm-xen=file://$work/qubes-vmm-xen.git;https://xenbits.xen.org/git-http/xen.git=file://$work/xen.git"
export QXK_XEN_CONFIG="$target/$dir/xen-config"
defs="$root/definitions"
qtag=$("$bin" --definitions "$defs" show qubes-vmm-xen-data --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["source"]["tag"])')
xtag=$("$bin" --definitions "$defs" show xen --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["upstream"]["tag"])')
flags=$("$bin" --definitions "$defs" show xen --json | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["configure_flags"]))')
patches=$("$bin" --definitions "$defs" show qubes-vmm-xen-data --json | python3 -c 'import json,sys; [print(p["file"]) for p in json.load(sys.stdin)["patches"]]')
echo "bench: $qtag on $xtag, mode $mode, make -j$jobs${smoke:+ [SMOKE RUN: no make xen, not a measurement]}"

# Fill the download cache once (both sides then start from local data); a smoke run's single
# `prepare` fills it itself.
if [ -z "$smoke" ]; then
  "$bin" --definitions "$defs" --cache "$work/dl" -q verify >/dev/null 2>&1 || true
fi

ours() {
  rm -rf "$work/ours"
  if [ -n "$smoke" ]; then
    "$bin" --definitions "$defs" --cache "$work/dl" -q prepare xen --vendor "$work/ours"
    return
  fi
  "$bin" --definitions "$defs" --cache "$work/dl" -q build xen --mode "$mode" --jobs "$jobs" \
    --no-cache -o "$work/ours"
}

by_hand() {
  rm -rf "$work/hand"; mkdir -p "$work/hand/q" "$work/hand/x"
  git --git-dir="$work/qubes-vmm-xen.git" --work-tree="$work/hand/q" checkout -q -f "$qtag" -- .
  git --git-dir="$work/xen.git" --work-tree="$work/hand/x" checkout -q -f "$xtag" -- .
  cd "$work/hand/x"
  while read -r f; do patch -p1 --fuzz=0 -s --batch -i "../q/$f"; done <<<"$patches"
  cp ../q/config xen/.config
  if [ -n "$smoke" ]; then
    make -s -C xen olddefconfig PYTHON=/usr/bin/python3 >"$work/hand-xen.log" 2>&1
    cd "$root"
    return
  fi
  mkdir -p dist/install/boot/efi/efi/qubes
  make -j"$jobs" xen EFI_VENDOR=qubes PYTHON=/usr/bin/python3 >"$work/hand-xen.log" 2>&1
  if [ "$mode" = full ]; then
    # shellcheck disable=SC2086
    ./configure --prefix=/usr $flags PYTHON=/usr/bin/python3 >"$work/hand-configure.log" 2>&1
    make -j"$jobs" dist-tools PYTHON=/usr/bin/python3 >"$work/hand-tools.log" 2>&1
  fi
  cd "$root"
}

# ROUNDS pairs, alternating which side goes first (other load on the machine drifts).
rounds=${ROUNDS:-1}
t_hand=0; t_ours=0
for i in $(seq 1 "$rounds"); do
  if [ $((i % 2)) = 1 ]; then
    t0=$EPOCHREALTIME; ours; t1=$EPOCHREALTIME; by_hand; t2=$EPOCHREALTIME
    t_ours=$(python3 -c "print($t_ours + $t1 - $t0)"); t_hand=$(python3 -c "print($t_hand + $t2 - $t1)")
  else
    t0=$EPOCHREALTIME; by_hand; t1=$EPOCHREALTIME; ours; t2=$EPOCHREALTIME
    t_hand=$(python3 -c "print($t_hand + $t1 - $t0)"); t_ours=$(python3 -c "print($t_ours + $t2 - $t1)")
  fi
  if [ -z "$smoke" ]; then
    echo "round $i: command steps (s): $(python3 -c "import json; print(json.load(open('$work/ours/manifest.json'))['seconds'])")"
  fi
done
read -r t_hand t_ours ratio < <(python3 -c "h=$t_hand; o=$t_ours; print(f'{h:.1f} {o:.1f} {o/h:.3f}')")
if [ -n "$smoke" ]; then
  echo "smoke: package-defs prepare ${t_ours} s; by hand (checkout, patch loop, config, make olddefconfig) ${t_hand} s"
  # `build` completes Qubes' config with xen-config on the prepared tree; by hand, make did.
  tree=$(echo "$work"/ours/*/xen)
  "$QXK_XEN_CONFIG" olddefconfig --xen-dir "$tree" --config "$tree/.config" -o "$work/ours.config"
  if cmp -s "$work/ours.config" "$work/hand/x/xen/.config"; then
    echo "smoke: xen-config's olddefconfig of the prepared tree is make's, byte for byte"
  else
    echo "smoke: xen-config's olddefconfig of the prepared tree differs from make's:"
    diff "$work/ours.config" "$work/hand/x/xen/.config" | head -20
    exit 1
  fi
  exit 0
fi
printf 'by hand (patch loop + make xen%s): %.1f s\n' "$([ "$mode" = full ] && echo ' + make dist-tools')" "$t_hand"
printf 'package-defs build --mode %s:      %.1f s\n' "$mode" "$t_ours"
echo "ratio: ${ratio}x (goal: at most 1.05x)"
cmp -s "$work/ours/xen.gz" "$work/hand/x/xen/xen.gz" && echo "xen.gz: identical" || echo "xen.gz: differs (the command fixes the build environment; by hand it is the caller's)"
