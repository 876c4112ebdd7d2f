#!/usr/bin/env bash
# Benchmarks xenstore clients against one test xenstored in the same run: ours
# (xenstore-client / `xs`), Debian's C libxenstore and xenstore-utils, and xenstore-rs.
# Needs cc + libxen-dev + xenstore-utils (scripts/setup-debian.sh). Prints times and ratios.
#
#   scripts/bench-xenstore.sh            # XS_BENCH_PASSES=N for more passes
#   scripts/bench-xenstore.sh --smoke    # a few small units on the test build (CI): checks it runs
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --smoke ] || [ -n "${QXK_BENCH_SMOKE:-}" ]; then
  # The test profile: CI has built it already; a smoke run measures nothing.
  cargo build -q -p xenstore-client --features cli --bin xs
  exec cargo bench -q -p xenstore-client --bench xenstore --profile dev -- --smoke
fi
cargo build -q --release -p xenstore-client --features cli --bin xs
exec cargo bench -q -p xenstore-client --bench xenstore
