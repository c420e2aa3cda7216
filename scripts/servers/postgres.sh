#!/usr/bin/env bash
# PostgreSQL for the outbox tests: Debian's `postgresql` package, a throwaway cluster made
# with initdb and run with pg_ctl as the `postgres` user, on loopback only.
#
#   scripts/servers/postgres.sh packages          the Debian packages it needs
#   scripts/servers/postgres.sh start STATE_DIR   initdb (first time) and start; waits until ready
#   scripts/servers/postgres.sh stop STATE_DIR    stop (fast shutdown); leaves no process
#   scripts/servers/postgres.sh status STATE_DIR  exit 0 when it accepts connections
#   scripts/servers/postgres.sh env STATE_DIR     KEY=value lines for the test env file
#
# POSTGRES_PORT (default 24800) picks the port. Authentication is `trust` for loopback TCP
# only: the cluster holds nothing but test queues and dies with the state dir.
set -euo pipefail

: "${POSTGRES_PORT:=24800}"
LISTEN=127.0.0.1
DB=smtpcm_test

log() { printf 'postgres: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -x "$d/pg_ctl" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)"
  printf '%s\n' "$d"
}

as_postgres() { runuser -u postgres -- "$@"; }

cmd_start() {
  local dir="$1" bin
  bin="$(bindir)"
  mkdir -p "$dir"
  chown postgres: "$dir"
  chmod 700 "$dir"
  if [[ ! -s "$dir/data/PG_VERSION" ]]; then
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
      { tail -n 20 "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if cmd_status "$dir" 2>/dev/null; then
    log "already running on $LISTEN:$POSTGRES_PORT"
    return 0
  fi
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=$LISTEN -p $POSTGRES_PORT -c unix_socket_directories=$dir -c max_connections=200" \
    start >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; die "pg_ctl start failed"; }
  if ! as_postgres "$bin/psql" -h "$LISTEN" -p "$POSTGRES_PORT" -U postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB'" postgres | grep -q 1; then
    as_postgres "$bin/createdb" -h "$LISTEN" -p "$POSTGRES_PORT" -U postgres "$DB"
  fi
  log "up on $LISTEN:$POSTGRES_PORT (database $DB)"
}

cmd_stop() {
  local dir="$1" bin
  [[ -s "$dir/data/postmaster.pid" ]] || return 0
  bin="$(bindir)"
  as_postgres "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

cmd_status() {
  local dir="$1" bin
  bin="$(bindir)"
  "$bin/pg_isready" -q -h "$LISTEN" -p "$POSTGRES_PORT"
}

cmd_env() {
  printf 'POSTGRES_PORT=%s\n' "$POSTGRES_PORT"
  printf 'POSTGRES_URL=postgres://postgres@%s:%s/%s\n' "$LISTEN" "$POSTGRES_PORT" "$DB"
}

case "${1:-}" in
packages) echo postgresql ;;
start) cmd_start "${2:?state dir}" ;;
stop) cmd_stop "${2:?state dir}" ;;
status) cmd_status "${2:?state dir}" ;;
env) cmd_env ;;
*)
  echo "usage: $0 packages|start|stop|status|env STATE_DIR" >&2
  exit 2
  ;;
esac
