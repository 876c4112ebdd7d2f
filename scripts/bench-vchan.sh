#!/bin/sh
# vchan throughput: ours (xen_toolstack::vchan) against the C vchan-node1 of the same Xen tree,
# in one boot of Qubes' build under QEMU (the e2e harness; a cached build makes it minutes).
# Prints both figures and the ratio ours / C (goal: at least 0.9x).
# Needs what `cargo test -p qxk-tests --test e2e` needs (scripts/setup-debian.sh, ../shared).
set -eu
cd "$(dirname "$0")/.."
# The dev profile: the programs in the VM are the e2e ones; the copying is libxenvchan's C.
exec cargo bench -j2 -p qxk-tests --bench vchan --profile dev
