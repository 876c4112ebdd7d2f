#!/usr/bin/env bash
# Benchmark (not a test): olddefconfig of Debian's Xen 4.17 x86 tree with Qubes' config,
# xen-config vs Xen's own `make -C xen olddefconfig` (cold: builds conf; warm: conf built)
# vs kconfiglib from PyPI. One run each, same machine, same input; outputs must be identical.
# Needs scripts/setup-debian.sh (make, gcc, flex, bison, kconfiglib).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=$("$root/scripts/debian-xen-source.sh")
qubes=${QUBES_CONFIG:-$root/../shared/fixtures/qubes-vmm-xen/v4.17.4-5/config}
cargo build --quiet --release -p xen-config --manifest-path "$root/Cargo.toml"
bin=$root/target/release/xen-config
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$src/Config.mk" "$src/config" "$src/xen" "$work/"
xen=$work/xen

now() { echo "${EPOCHREALTIME/./}"; }   # microseconds
elapsed() { local s=$1; local e; e=$(now); echo $(( e - s )); }

cp "$qubes" "$xen/.config"
t=$(now); make -s -C "$xen" olddefconfig >/dev/null 2>&1; cold=$(elapsed "$t")
cp "$xen/.config" "$work/make.config"
cp "$qubes" "$xen/.config"
t=$(now); make -s -C "$xen" olddefconfig >/dev/null 2>&1; warm=$(elapsed "$t")
cmp "$xen/.config" "$work/make.config"

# The environment Xen's make exports to conf, for kconfiglib.
export SRCARCH=x86 ARCH=x86_64 CC=gcc LD=ld srctree=.
export XEN_FULLVERSION=$(make -s -C "$xen" xenversion 2>/dev/null)
export XEN_HAS_CHECKPOLICY=$({ checkpolicy -h 2>&1 | grep -q xen; } >/dev/null 2>&1 && echo y || echo n)
export XEN_HAS_BUILD_ID=$(ld --build-id 2>&1 | grep -q build-id && echo n || echo y)
t=$(now); (cd "$xen" && python3 "$root/xen-config/scripts/kconfiglib-olddefconfig.py" "$qubes" "$work/kconfiglib.config"); klib=$(elapsed "$t")
cmp "$work/kconfiglib.config" "$work/make.config"

t=$(now); "$bin" olddefconfig --xen-dir "$xen" --config "$qubes" -o "$work/ours.config" --record-probes "$work/probes.json"; ours=$(elapsed "$t")
cmp "$work/ours.config" "$work/make.config"
t=$(now); "$bin" olddefconfig --xen-dir "$xen" --config "$qubes" -o "$work/ours2.config" --probes "$work/probes.json"; replay=$(elapsed "$t")
cmp "$work/ours2.config" "$work/make.config"

ms() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo "olddefconfig, Xen 4.17 x86 tree, Qubes config; all outputs identical (cmp)"
printf '%-44s %9.1f ms\n' "make olddefconfig, cold (builds conf)" "$(ms $cold)"
printf '%-44s %9.1f ms\n' "make olddefconfig, warm" "$(ms $warm)"
printf '%-44s %9.1f ms\n' "kconfiglib" "$(ms $klib)"
printf '%-44s %9.1f ms\n' "xen-config (host probes run live)" "$(ms $ours)"
printf '%-44s %9.1f ms\n' "xen-config (recorded probe answers)" "$(ms $replay)"
echo "ratios, live probes:     vs cold make $(ratio "$cold" "$ours"), vs warm make $(ratio "$warm" "$ours"), vs kconfiglib $(ratio "$klib" "$ours")"
echo "ratios, recorded probes: vs cold make $(ratio "$cold" "$replay"), vs warm make $(ratio "$warm" "$replay"), vs kconfiglib $(ratio "$klib" "$replay")"
