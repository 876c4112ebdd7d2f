#!/usr/bin/env bash
# Benchmarks xenstore clients against one test xenstored in the same run: ours
# (xenstore-client / `xs`), Debian's C libxenstore and xenstore-utils, and xenstore-rs.
# Needs cc + libxen-dev + xenstore-utils (scripts/setup-debian.sh). Prints times and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p xenstore-client --bin xs
cargo bench -p xenstore-client --bench xenstore
