#!/usr/bin/env bash
# Benchmark (not a test): olddefconfig of Debian's Xen 4.17 x86 tree with Qubes' config,
# xen-config vs Xen's own `make -C xen olddefconfig` (cold: builds conf; warm: conf built)
# vs kconfiglib from PyPI, all in one run on the same machine and input; every output is
# compared with make's (cmp). xen-config is timed without its probe cache, on its first run
# with an empty cache (probes run and are stored), on a cached run, and with recorded answers.
# Cold make runs once (it builds conf). Every other contestant runs once per round, the
# order rotating each round, and each figure is the median over $RUNS rounds (default 7):
# the host is shared, and interleaving makes other load hit every contestant alike. Each
# figure also gives the CPU time (user + system, children included), which load changes
# far less than wall time.
# Needs scripts/setup-debian.sh (make, gcc, flex, bison, kconfiglib).
#
#   scripts/bench-xen-config.sh            # RUNS=N to change the rounds
#   scripts/bench-xen-config.sh --smoke    # one round on the test build: checks the script works
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
smoke=${QXK_BENCH_SMOKE:-}
[ "${1:-}" = --smoke ] && smoke=1
src=$("$root/scripts/debian-xen-source.sh")
qubes=${QUBES_CONFIG:-$root/../shared/fixtures/qubes-vmm-xen/v4.17.4-5/config}
if [ -n "$smoke" ]; then
  runs=1
  # The test build: CI has it already, and the figures of a smoke run mean nothing.
  cargo build --quiet -p xen-config --manifest-path "$root/Cargo.toml"
  bin=${CARGO_TARGET_DIR:-$root/target}/debug/xen-config
else
  runs=${RUNS:-7}
  cargo build --quiet --release -p xen-config --manifest-path "$root/Cargo.toml"
  bin=${CARGO_TARGET_DIR:-$root/target}/release/xen-config
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$src/Config.mk" "$src/config" "$src/xen" "$work/"
xen=$work/xen

# timed NAME CMD...: runs CMD once (its `setup_NAME` first, untimed, when defined) and
# appends "wall_ms cpu_ms" to $work/NAME.times (bash's `time`: CPU includes children).
TIMEFORMAT='%3R %3U %3S'
timed() {
  local name=$1 t
  shift
  if declare -F "setup_$name" >/dev/null; then "setup_$name"; fi
  t=$({ time "$@" >/dev/null 2>"$work/$name.err"; } 2>&1) || {
    cat "$work/$name.err" >&2
    echo "error: $name failed" >&2
    exit 1
  }
  awk '{ printf "%.1f %.1f\n", $1 * 1000, ($2 + $3) * 1000 }' <<<"$t" >>"$work/$name.times"
}
# median NAME FIELD: the median of column FIELD (1 wall, 2 CPU) of NAME's runs, in ms.
median() {
  cut -d' ' -f"$2" "$work/$1.times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

make_warm() { make -s -C "$xen" olddefconfig; }
setup_make_warm() { cp "$qubes" "$xen/.config"; }

cp "$qubes" "$xen/.config"
timed make_cold make -s -C "$xen" olddefconfig
cp "$xen/.config" "$work/make.config"

# The environment Xen's make exports to conf, for kconfiglib.
export SRCARCH=x86 ARCH=x86_64 CC=gcc LD=ld srctree=.
XEN_FULLVERSION=$(make -s -C "$xen" xenversion 2>/dev/null)
XEN_HAS_CHECKPOLICY=$({ checkpolicy -h 2>&1 | grep -q xen; } >/dev/null 2>&1 && echo y || echo n)
XEN_HAS_BUILD_ID=$(ld --build-id 2>&1 | grep -q build-id && echo n || echo y)
export XEN_FULLVERSION XEN_HAS_CHECKPOLICY XEN_HAS_BUILD_ID
kconfiglib() { (cd "$xen" && python3 "$root/xen-config/scripts/kconfiglib-olddefconfig.py" "$qubes" "$work/kconfiglib.config"); }

# xen-config with the probe cache in the benchmark's own files: "first run" starts from an
# empty one each time, "cached run" from one filled before the rounds.
ours() { "$bin" olddefconfig --xen-dir "$xen" --config "$qubes" -o "$work/ours.config" "$@"; }
ours_live() { ours --no-probe-cache; }
ours_first() { ours --probe-cache "$work/first-cache.json"; }
setup_ours_first() { rm -f "$work/first-cache.json"; }
ours_cached() { ours --probe-cache "$work/cache.json"; }
ours_replay() { ours --probes "$work/probes.json"; }
ours --probe-cache "$work/cache.json" --record-probes "$work/probes.json" >/dev/null
test -s "$work/cache.json"

contestants=(make_warm kconfiglib ours_live ours_first ours_cached ours_replay)
n=${#contestants[@]}
for ((r = 0; r < runs; r++)); do
  for ((j = 0; j < n; j++)); do
    c=${contestants[$(((j + r) % n))]}
    timed "$c" "$c"
    # Every output is make's.
    case $c in
      make_warm) cmp "$xen/.config" "$work/make.config" ;;
      kconfiglib) cmp "$work/kconfiglib.config" "$work/make.config" ;;
      ours_*) cmp "$work/ours.config" "$work/make.config" ;;
    esac
  done
done
test -s "$work/first-cache.json"

label() {
  case $1 in
    make_cold) echo "make olddefconfig, cold (builds conf, 1 run)" ;;
    make_warm) echo "make olddefconfig, warm" ;;
    kconfiglib) echo "kconfiglib" ;;
    ours_live) echo "xen-config, no probe cache (host probes live)" ;;
    ours_first) echo "xen-config, first run (empty probe cache)" ;;
    ours_cached) echo "xen-config, cached run (probe cache filled)" ;;
    ours_replay) echo "xen-config, recorded probe answers (--probes)" ;;
  esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo "olddefconfig, Xen 4.17 x86 tree, Qubes config; all outputs identical (cmp); medians of $runs interleaved rounds except cold make${smoke:+ [SMOKE RUN: checks the script works, not a measurement]}"
echo "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
printf '%-48s %10s %10s\n' "" "wall" "CPU"
for c in make_cold "${contestants[@]}"; do
  printf '%-48s %7.1f ms %7.1f ms\n' "$(label "$c")" "$(median "$c" 1)" "$(median "$c" 2)"
done
cold=$(median make_cold 1)
warm=$(median make_warm 1)
klib=$(median kconfiglib 1)
klib_cpu=$(median kconfiglib 2)
for c in ours_live ours_first ours_cached ours_replay; do
  w=$(median "$c" 1)
  printf '%-25s vs cold make %8s, vs warm make %7s, vs kconfiglib %7s (CPU time: %s less)\n' \
    "ratios, ${c#ours_}:" "$(ratio "$cold" "$w")" "$(ratio "$warm" "$w")" "$(ratio "$klib" "$w")" \
    "$(ratio "$klib_cpu" "$(median "$c" 2)")"
done
