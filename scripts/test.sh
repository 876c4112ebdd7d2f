#!/usr/bin/env bash
# The whole test suite, as CI runs it, from a fresh Debian 12 machine:
# system packages (idempotent), formatting, lints, every crate's tests, then a smoke run of
# every benchmark script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh
# Fetch the Debian Xen source tree once up front, so tests that need it share one copy.
scripts/debian-xen-source.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked --no-fail-fast
# With .guix-authorizations: real Guix authenticates main and the bot's branches (else a skip line).
bash scripts/guix-authenticate.sh
# Every benchmark script, in its small smoke mode: a benchmark that no longer runs fails CI.
bash scripts/bench-smoke.sh
