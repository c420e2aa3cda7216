#!/usr/bin/env bash
# Benchmark driver: reference figures from Postfix's smtp-source against smtp-sink, then
# the workspace's own benchmarks (cargo bench) pointed at the same sink.
#
#   scripts/bench.sh
#
# Compare ratios measured in one run, never absolute numbers across machines: the machine is
# shared and noisy. Environment:
#   BENCH_MESSAGES   messages per smtp-source run (default 5000)
#   BENCH_SIZE       message size in bytes (default 1024)
#   CARGO_BUILD_JOBS parallel rustc jobs (default 2)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
MESSAGES="${BENCH_MESSAGES:-5000}"
SIZE="${BENCH_SIZE:-1024}"

SERVERS_WERE_RUNNING=no
if scripts/test-servers.sh status >/dev/null 2>&1; then
  SERVERS_WERE_RUNNING=yes
fi
stop_servers() {
  if [[ "$SERVERS_WERE_RUNNING" == no ]]; then
    scripts/test-servers.sh stop || true
  fi
}
trap stop_servers EXIT

scripts/test-servers.sh start
export SMTPCM_TEST_ENV="$REPO/.test-servers/env"
# shellcheck source=/dev/null
source "$SMTPCM_TEST_ENV"
SINK="$SMTPCM_TEST_HOST:$SMTP_SINK_PORT"

# rate LABEL SMTP-SOURCE-ARGS...: runs smtp-source and prints messages per second.
rate() {
  local label="$1" start end
  shift
  start="$(date +%s.%N)"
  smtp-source -m "$MESSAGES" -l "$SIZE" -f bench@example.com -t sink@test.local "$@" "$SINK" </dev/null
  end="$(date +%s.%N)"
  awk -v l="$label" -v m="$MESSAGES" -v s="$start" -v e="$end" \
    'BEGIN { printf "  %-36s %9.0f msg/s  (%d msgs in %.2fs)\n", l, m / (e - s), m, e - s }'
}

printf 'smtp-source (C) -> smtp-sink, %s-byte messages\n' "$SIZE"
rate "connection per message" -s 1
rate "one connection reused" -s 1 -d
rate "10 parallel, reused" -s 10 -d

if [[ -n "$(find crates -path '*/benches/*.rs' -print -quit)" ]]; then
  printf '\ncargo bench (SMTPCM_TEST_ENV=%s)\n' "$SMTPCM_TEST_ENV"
  cargo bench --workspace </dev/null
else
  printf '\nno cargo benchmarks in the workspace yet (crates/*/benches/)\n'
fi
