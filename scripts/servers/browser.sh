#!/usr/bin/env bash
# Headless Chromium and the pinned Playwright driver for the designer's browser tests
# (tests/browser, run by crates/smtpcm-cli/tests/designer_browser.rs).
#
#   scripts/servers/browser.sh install   apt-get install chromium (and nodejs/npm when missing),
#                                        then `npm ci` in tests/browser; playwright-core downloads
#                                        no browser, the tests use Debian's /usr/bin/chromium
#   scripts/servers/browser.sh status    exit 0 when chromium, node and playwright-core are there
#   scripts/servers/browser.sh env       KEY=value lines for the test servers' env file
#   scripts/servers/browser.sh start|stop  nothing to do: each test launches its own browser
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TESTS_DIR="$REPO/tests/browser"
CHROMIUM=/usr/bin/chromium

log() { printf 'browser: %s\n' "$*" >&2; }

install() {
  local missing=()
  [[ -x "$CHROMIUM" ]] || missing+=(chromium)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [[ ! -f "$TESTS_DIR/node_modules/playwright-core/package.json" ]] ||
    ! cmp -s "$TESTS_DIR/package-lock.json" "$TESTS_DIR/node_modules/.smtpcm-installed-lock"; then
    log "npm ci in $TESTS_DIR"
    (cd "$TESTS_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    # Remembers which lock file node_modules matches, so the next install is a no-op.
    cp "$TESTS_DIR/package-lock.json" "$TESTS_DIR/node_modules/.smtpcm-installed-lock"
  fi
}

status() {
  [[ -x "$CHROMIUM" ]] && command -v node >/dev/null 2>&1 &&
    [[ -f "$TESTS_DIR/node_modules/playwright-core/package.json" ]]
}

case "${1:-}" in
install) install ;;
status)
  if status; then echo "browser             up ($CHROMIUM, playwright-core)"; else
    echo "browser             missing (run $0 install)"
    exit 1
  fi
  ;;
env)
  echo "CHROMIUM=$CHROMIUM"
  echo "BROWSER_TESTS_DIR=$TESTS_DIR"
  ;;
start | stop) ;;
*)
  echo "usage: $0 install|status|env|start|stop" >&2
  exit 2
  ;;
esac
