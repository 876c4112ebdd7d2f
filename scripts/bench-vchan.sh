#!/bin/sh
# vchan throughput: ours (xen_toolstack::vchan) against the C vchan-node1 of the same Xen tree,
# in one boot of Qubes' build under QEMU (the e2e harness; a cached build makes it minutes).
# Prints both figures and the ratio ours / C (goal: at least 0.9x).
# Needs what `cargo test -p qxk-tests --test e2e` needs (scripts/setup-debian.sh, ../shared).
#
#   scripts/bench-vchan.sh           # the benchmark: one boot, six rounds
#   scripts/bench-vchan.sh --smoke   # CI: builds the bench and assembles one boot's inputs
#                                    # from the cached builds, without booting
set -eu
cd "$(dirname "$0")/.."
# The dev profile: the programs in the VM are the e2e ones; the copying is libxenvchan's C.
if [ "${1:-}" = --smoke ] || [ -n "${QXK_BENCH_SMOKE:-}" ]; then
  exec cargo bench -q -j2 -p qxk-tests --bench vchan --profile dev -- --smoke
fi
exec cargo bench -j2 -p qxk-tests --bench vchan --profile dev
