#!/usr/bin/env bash
# Benchmark (not a test): olddefconfig of Debian's Xen 4.17 x86 tree with Qubes' config,
# xen-config vs Xen's own `make -C xen olddefconfig` (cold: builds conf; warm: conf built)
# vs kconfiglib from PyPI, all in one run on the same machine and input; every output is
# compared with make's (cmp). xen-config is timed without its probe cache, on its first run
# with an empty cache (probes run and are stored), on a cached run, and with recorded answers.
# Cold make runs once (it builds conf); every other figure is the median of $RUNS runs
# (default 5), since the host is shared and single runs are noisy.
# Needs scripts/setup-debian.sh (make, gcc, flex, bison, kconfiglib).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$("$root/scripts/debian-xen-source.sh")
qubes=${QUBES_CONFIG:-$root/../shared/fixtures/qubes-vmm-xen/v4.17.4-5/config}
runs=${RUNS:-5}
cargo build --quiet --release -p xen-config --manifest-path "$root/Cargo.toml"
bin=$root/target/release/xen-config
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$src/Config.mk" "$src/config" "$src/xen" "$work/"
xen=$work/xen

now() { echo "${EPOCHREALTIME/./}"; }   # microseconds
# median CMD...: runs CMD $runs times (a `setup_*` function of the same name runs untimed
# first when defined), prints the median in microseconds.
median() {
  local times=() i t
  for ((i = 0; i < runs; i++)); do
    if declare -F "setup_$1" >/dev/null; then "setup_$1"; fi
    t=$(now); "$@" >&2; times+=($(( $(now) - t )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

make_olddefconfig() { make -s -C "$xen" olddefconfig >/dev/null 2>&1; }
setup_make_olddefconfig() { cp "$qubes" "$xen/.config"; }

cp "$qubes" "$xen/.config"
t=$(now); make_olddefconfig; cold=$(( $(now) - t ))
cp "$xen/.config" "$work/make.config"
warm=$(median make_olddefconfig)
cmp "$xen/.config" "$work/make.config"

# The environment Xen's make exports to conf, for kconfiglib.
export SRCARCH=x86 ARCH=x86_64 CC=gcc LD=ld srctree=.
export XEN_FULLVERSION=$(make -s -C "$xen" xenversion 2>/dev/null)
export XEN_HAS_CHECKPOLICY=$({ checkpolicy -h 2>&1 | grep -q xen; } >/dev/null 2>&1 && echo y || echo n)
export XEN_HAS_BUILD_ID=$(ld --build-id 2>&1 | grep -q build-id && echo n || echo y)
kconfiglib() { (cd "$xen" && python3 "$root/xen-config/scripts/kconfiglib-olddefconfig.py" "$qubes" "$work/kconfiglib.config"); }
klib=$(median kconfiglib)
cmp "$work/kconfiglib.config" "$work/make.config"

# A probe cache file of the benchmark's own: "first run" starts from an empty one each time.
cache=$work/probe-cache.json
ours() { "$bin" olddefconfig --xen-dir "$xen" --config "$qubes" -o "$work/ours.config" "$@"; }
ours_live() { ours --no-probe-cache --record-probes "$work/probes.json"; }
ours_first() { ours --probe-cache "$cache"; }
setup_ours_first() { rm -f "$cache"; }
ours_cached() { ours --probe-cache "$cache"; }
ours_replay() { ours --probes "$work/probes.json"; }

live=$(median ours_live); cmp "$work/ours.config" "$work/make.config"
first=$(median ours_first); cmp "$work/ours.config" "$work/make.config"
test -s "$cache"
cached=$(median ours_cached); cmp "$work/ours.config" "$work/make.config"
replay=$(median ours_replay); cmp "$work/ours.config" "$work/make.config"

ms() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo "olddefconfig, Xen 4.17 x86 tree, Qubes config; all outputs identical (cmp); median of $runs except cold make"
printf '%-48s %9.1f ms\n' "make olddefconfig, cold (builds conf, 1 run)" "$(ms $cold)"
printf '%-48s %9.1f ms\n' "make olddefconfig, warm" "$(ms $warm)"
printf '%-48s %9.1f ms\n' "kconfiglib" "$(ms $klib)"
printf '%-48s %9.1f ms\n' "xen-config, no probe cache (host probes live)" "$(ms $live)"
printf '%-48s %9.1f ms\n' "xen-config, first run (empty probe cache)" "$(ms $first)"
printf '%-48s %9.1f ms\n' "xen-config, cached run (probe cache filled)" "$(ms $cached)"
printf '%-48s %9.1f ms\n' "xen-config, recorded probe answers (--probes)" "$(ms $replay)"
for row in "no probe cache:$live" "first run:$first" "cached run:$cached" "recorded probes:$replay"; do
  label=${row%%:*}; us=${row##*:}
  printf '%-25s vs cold make %8s, vs warm make %7s, vs kconfiglib %7s\n' "ratios, $label:" \
    "$(ratio "$cold" "$us")" "$(ratio "$warm" "$us")" "$(ratio "$klib" "$us")"
done
