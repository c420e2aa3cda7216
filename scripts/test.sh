#!/usr/bin/env bash
# The smtpcm test command: real servers up, then fmt, clippy, tests, doc tests, the .deb
# (build, install, demo, remove), fuzz smoke.
#
#   scripts/test.sh
#
# Works on a fresh Debian 12 machine that has only the Rust toolchain (run as root; apt
# must be reachable). Every step runs even when an earlier one failed, so one run reports
# everything; the exit status is non-zero if any step failed. The test servers are stopped
# on exit, unless they were already running before this script started.
#
# Environment:
#   CARGO_BUILD_JOBS   parallel rustc jobs (default 2: the machine is shared)
#   FUZZ_SECONDS       time per fuzz target in the fuzz smoke (default 10; 5 targets)
#   TEST_TIMEOUT       upper bound for the test run, a `timeout` duration (default 30m), so a
#                      hung test fails the run with a summary instead of eating the CI limit
#   CI=true            tests must not skip: missing servers or ../shared fail instead
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
TEST_TIMEOUT="${TEST_TIMEOUT:-30m}"

STEP_NAMES=()
STEP_RESULTS=()
FAILED=0
STARTED_AT=$SECONDS

say() { printf '\n=== test.sh: %s\n' "$*"; }

record() {
  STEP_NAMES+=("$1")
  STEP_RESULTS+=("$2")
  [[ "$2" == FAIL* ]] && FAILED=1
  return 0
}

# Runs one named step, recording pass/fail and its duration without stopping the script.
run_step() {
  local name="$1"
  shift
  say "$name: $*"
  local start=$SECONDS rc=0
  "$@" </dev/null || rc=$?
  if ((rc == 0)); then
    record "$name" "ok ($((SECONDS - start))s)"
  else
    record "$name" "FAIL (exit $rc, $((SECONDS - start))s)"
  fi
}

summary() {
  local i line=""
  printf '\n=== test.sh summary\n'
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-12s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
  done
  ((FAILED == 0)) && line="PASS" || line="FAIL"
  printf 'test.sh: %s in %ss\n' "$line" "$((SECONDS - STARTED_AT))"
}

# rustfmt and clippy are rustup components that a minimal toolchain may lack.
ensure_component() {
  local cargo_cmd="$1" component="$2"
  cargo "$cargo_cmd" --version >/dev/null 2>&1 && return 0
  if command -v rustup >/dev/null; then
    rustup component add "$component"
  else
    echo "cargo $cargo_cmd is missing and rustup is not available to add $component" >&2
    return 1
  fi
}

# `ring` (rustls' crypto) compiles C, and linking needs cc; a bare image may lack both.
ensure_c_toolchain() {
  command -v cc >/dev/null && return 0
  [[ $EUID -eq 0 ]] || {
    echo "no C compiler (cc) and not root to install gcc" >&2
    return 1
  }
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends gcc libc6-dev >/dev/null
}

SERVERS_WERE_RUNNING=no
if scripts/test-servers.sh status >/dev/null 2>&1; then
  SERVERS_WERE_RUNNING=yes
fi

on_exit() {
  local rc=$?
  if ((rc != 0 && FAILED == 0)); then
    # Interrupted, or the script itself failed: the summary must not claim PASS.
    record aborted "FAIL (test.sh exited with $rc)"
  fi
  if [[ "$SERVERS_WERE_RUNNING" == no ]]; then
    scripts/test-servers.sh stop || true
  fi
  summary
  if ((rc == 0 && FAILED != 0)); then
    rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

run_step toolchain ensure_c_toolchain
run_step servers scripts/test-servers.sh start
if [[ "${STEP_RESULTS[-1]}" == FAIL* ]]; then
  echo "test servers did not start; not running the tests" >&2
  exit 1
fi
export SMTPCM_TEST_ENV="$REPO/.test-servers/env"

if ensure_component fmt rustfmt; then
  run_step fmt cargo fmt --all --check
else
  record fmt "FAIL (rustfmt unavailable)"
fi

if ensure_component clippy clippy; then
  run_step clippy cargo clippy --workspace --all-targets -- -D warnings
else
  record clippy "FAIL (clippy unavailable)"
fi

if cargo nextest --version >/dev/null 2>&1; then
  run_step tests timeout -k 30s "$TEST_TIMEOUT" cargo nextest run --workspace --no-fail-fast
else
  echo "cargo-nextest not installed; falling back to cargo test" >&2
  run_step tests timeout -k 30s "$TEST_TIMEOUT" \
    cargo test --workspace --lib --bins --tests --no-fail-fast
fi

run_step doctests timeout -k 30s "$TEST_TIMEOUT" cargo test --workspace --doc

# The .deb: built (release; cargo-deb installed on first use), installed with dpkg -i, the
# installed smtpcm runs the demo, man page and completions checked, package removed again.
run_step deb scripts/deb-check.sh

# cargo-fuzz is installed on first use. It needs nightly-only rustc flags; on a stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them (fuzz/ is its own workspace, so this never
# touches the normal build). The smoke fuzzes every target FUZZ_SECONDS each, after one
# build (with AddressSanitizer, cargo-fuzz's default; the build time is not part of the budget).
fuzz_smoke() {
  local target targets
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not installed; installing it" >&2
    cargo install cargo-fuzz --locked || return 2
  fi
  fuzz/seed.sh
  targets="$(cd fuzz && cargo fuzz list)"
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build) || return 1
  for target in $targets; do
    say "fuzz $target for ${FUZZ_SECONDS}s"
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- \
      -max_total_time="$FUZZ_SECONDS") || return 1
  done
}

if [[ -d fuzz ]]; then
  say "fuzz smoke"
  start=$SECONDS
  rc=0
  fuzz_smoke </dev/null || rc=$?
  case $rc in
  0) record fuzz "ok ($((SECONDS - start))s)" ;;
  2) record fuzz "FAIL (cargo-fuzz could not be installed)" ;;
  *) record fuzz "FAIL (exit $rc)" ;;
  esac
else
  record fuzz "skipped (no fuzz/ directory)"
fi
