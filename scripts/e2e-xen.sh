#!/usr/bin/env bash
# Boots Debian's real Xen 4.17 + a PV dom0 (and a PV domU) under QEMU software
# emulation and runs the workspace's programs there (crate qxk-tests, tests/e2e.rs).
# Needs scripts/setup-debian.sh first; the Xen and kernel packages are downloaded
# once into target/qxk-cache/e2e (or $QXK_E2E_CACHE), never installed on the host.
# Extra arguments go to the test binary, e.g. `scripts/e2e-xen.sh domu_` for one group.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test -p qxk-tests --test e2e -- --nocapture "$@"
