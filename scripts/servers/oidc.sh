#!/usr/bin/env bash
# The loopback OpenID Provider (oidc-provider from the npm registry, on Debian's Node) for
# smtpcm's OAuth2 tests. Called by scripts/test-servers.sh; usable alone:
#
#   scripts/servers/oidc.sh start|stop|status STATE_DIR
#
# start installs the pinned packages (npm ci, from package-lock.json) when missing, creates
# fresh client secrets and a test-user password in STATE_DIR (mode 0600), starts
# provider.js on 127.0.0.1:$OIDC_PORT and writes STATE_DIR/env (KEY=value lines that
# test-servers.sh appends to its env file). Ports and lifetimes from the environment:
#   OIDC_PORT               24850  the provider (http on loopback)
#   OIDC_SHORT_TTL_SECONDS  5      access-token lifetime of client smtpcm-short (expired-token test)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP="$HERE/oidc"
: "${OIDC_PORT:=24850}"
: "${OIDC_SHORT_TTL_SECONDS:=5}"
LISTEN=127.0.0.1
START_TIMEOUT_SECONDS=60

log() { printf 'oidc: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
port_open() { (exec 3<>"/dev/tcp/$LISTEN/$1") 2>/dev/null; }

pid_alive() {
  local pid
  [[ -s "$1" ]] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [[ -n "$pid" && -r "/proc/$pid/comm" && "$(cat "/proc/$pid/comm")" == node ]]
}

install_app() {
  command -v node >/dev/null || die "node is missing (apt-get install nodejs)"
  # Debian's nodejs comes without npm (NodeSource's includes it).
  if ! command -v npm >/dev/null; then
    [[ $EUID -eq 0 ]] || die "npm is missing and not root to install it"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends npm >/dev/null || die "apt-get install npm failed"
  fi
  # npm ci is exact (the lock file) and idempotent; skip it when the tree is already there.
  if [[ ! -f "$APP/node_modules/oidc-provider/package.json" ||
    "$APP/package-lock.json" -nt "$APP/node_modules/.package-lock.json" ]]; then
    log "installing oidc-provider (npm ci)"
    (cd "$APP" && npm ci --omit=dev --no-audit --no-fund --loglevel=error >&2) ||
      die "npm ci failed in $APP"
  fi
}

secrets() {
  local file="$STATE/secrets"
  if [[ ! -s "$file" ]]; then
    (
      umask 077
      {
        printf 'OIDC_CLIENT_SECRET=cs-%s\n' "$(openssl rand -hex 16)"
        printf 'OIDC_SHORT_CLIENT_SECRET=css-%s\n' "$(openssl rand -hex 16)"
        printf 'OIDC_DOVECOT_SECRET=dc-%s\n' "$(openssl rand -hex 16)"
        printf 'OIDC_USER_PASSWORD=up-%s\n' "$(openssl rand -hex 12)"
      } >"$file"
    )
  fi
  # shellcheck disable=SC1090
  set -a && . "$file" && set +a
}

cmd_start() {
  mkdir -p "$STATE"
  install_app
  secrets
  if pid_alive "$STATE/provider.pid"; then
    log "provider already running"
  else
    port_open "$OIDC_PORT" && die "port $OIDC_PORT (OIDC_PORT) is already in use"
    OIDC_PORT="$OIDC_PORT" OIDC_SHORT_TTL_SECONDS="$OIDC_SHORT_TTL_SECONDS" \
      OIDC_USER=alice OIDC_USER_EMAIL=alice@test.local \
      node "$APP/provider.js" </dev/null >>"$STATE/provider.log" 2>&1 &
    echo $! >"$STATE/provider.pid"
  fi
  local i
  for ((i = 0; i < START_TIMEOUT_SECONDS * 10; i++)); do
    port_open "$OIDC_PORT" && break
    sleep 0.1
  done
  if ! port_open "$OIDC_PORT"; then
    tail -n 30 "$STATE/provider.log" >&2 || true
    die "provider is not listening on $LISTEN:$OIDC_PORT"
  fi
  local base="http://$LISTEN:$OIDC_PORT"
  cat >"$STATE/env.tmp" <<ENV
OIDC_PORT=$OIDC_PORT
OIDC_ISSUER=$base
OIDC_TOKEN_URL=$base/token
OIDC_DEVICE_URL=$base/device/auth
OIDC_INTROSPECTION_URL=$base/token/introspection
OIDC_REVOCATION_URL=$base/token/revocation
OIDC_CLIENT_ID=smtpcm
OIDC_CLIENT_SECRET=$OIDC_CLIENT_SECRET
OIDC_SHORT_CLIENT_ID=smtpcm-short
OIDC_SHORT_CLIENT_SECRET=$OIDC_SHORT_CLIENT_SECRET
OIDC_SHORT_TTL_SECONDS=$OIDC_SHORT_TTL_SECONDS
OIDC_DOVECOT_CLIENT_ID=dovecot
OIDC_DOVECOT_SECRET=$OIDC_DOVECOT_SECRET
OIDC_SCOPE=smtp
OIDC_USER=alice
OIDC_USER_PASSWORD=$OIDC_USER_PASSWORD
OIDC_USER_EMAIL=alice@test.local
OIDC_LOG=$STATE/provider.log
ENV
  mv "$STATE/env.tmp" "$STATE/env"
  log "provider up on $base"
}

cmd_stop() {
  rm -f "$STATE/env"
  pid_alive "$STATE/provider.pid" || {
    rm -f "$STATE/provider.pid"
    return 0
  }
  local pid i
  pid="$(tr -dc '0-9' <"$STATE/provider.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    [[ -e "/proc/$pid" ]] || break
    sleep 0.1
  done
  [[ -e "/proc/$pid" ]] && kill -KILL "$pid" 2>/dev/null
  rm -f "$STATE/provider.pid"
}

cmd_status() {
  if port_open "$OIDC_PORT" && pid_alive "$STATE/provider.pid"; then
    printf '%-20s up    %s:%s\n' OIDC "$LISTEN" "$OIDC_PORT"
  else
    printf '%-20s DOWN  %s:%s\n' OIDC "$LISTEN" "$OIDC_PORT"
    return 1
  fi
}

[[ $# -eq 2 ]] || {
  echo "usage: $0 start|stop|status STATE_DIR" >&2
  exit 2
}
STATE="$2"
case "$1" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
  echo "usage: $0 start|stop|status STATE_DIR" >&2
  exit 2
  ;;
esac
