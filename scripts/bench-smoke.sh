#!/usr/bin/env bash
# CI: every benchmark script in its --smoke mode (seconds each, on the test build; not a
# measurement), so a benchmark that no longer runs fails CI. Each script's header says what
# its smoke mode leaves out. Prints each script's time; stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export QXK_BENCH_SMOKE=1
total_start=$EPOCHREALTIME
for script in bench-xenstore.sh bench-xen-config.sh bench-images.sh bench-update.sh \
  bench-xen-sys-build.sh bench-build.sh bench-vchan.sh; do
  start=$EPOCHREALTIME
  log=$(mktemp)
  if ! bash "scripts/$script" --smoke >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "error: scripts/$script --smoke failed (output above); the benchmark no longer runs" >&2
    exit 1
  fi
  rm -f "$log"
  awk -v s="$script" -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "bench smoke: %-24s ok, %5.1f s\n", s, b - a }'
done
awk -v a="$total_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "bench smoke: all ok, %.1f s\n", b - a }'
