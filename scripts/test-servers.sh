#!/usr/bin/env bash
# Real SMTP test servers on loopback for smtpcm's integration tests.
#
#   scripts/test-servers.sh start    install what is missing, build the state dir, start everything
#   scripts/test-servers.sh stop     stop everything this script started; leaves no processes
#   scripts/test-servers.sh status   report each component; exit 0 only if all are up
#   scripts/test-servers.sh verify   check every listener with swaks, openssl and python3-gssapi
#
# Everything lives under $REPO/.test-servers/ (gitignored). When the repository is not
# traversable by unprivileged users (e.g. a clone under /root), the state dir is created
# under /var/tmp and $REPO/.test-servers becomes a symlink to it, because Postfix daemons
# (user postfix) and Maildir delivery (user nobody) must reach it.
#
# Listeners (127.0.0.1 only). Override any default through the environment:
#   SMTP_STARTTLS_PORT      24025  Postfix, STARTTLS offered, no AUTH, delivers test.local to Maildirs
#   SMTP_IMPLICIT_PORT      24465  same, implicit TLS (smtpd_tls_wrappermode=yes)
#   SMTP_PLAIN_PORT         24026  same, no TLS at all (for downgrade tests)
#   SMTP_AUTH_PORT          24587  Cyrus SASL GSSAPI NTLM PLAIN LOGIN, STARTTLS offered, AUTH required
#   SMTP_AUTH_TLSONLY_PORT  24588  like SMTP_AUTH, AUTH only after STARTTLS (smtpd_tls_auth_only=yes)
#   SMTP_AUTH_SMTPSVC_PORT  24589  like SMTP_AUTH, but the GSSAPI acceptor is SMTPSVC/localhost
#                                  (the SPN System.Net.Mail asks for) instead of smtp/localhost
#   SMTP_STRICT_PIPELINING_PORT 24590  like SMTP_PLAIN, with smtpd_forbid_unauth_pipelining=yes and
#                                  reject_unauth_pipelining: a client that pipelines where RFC 2920
#                                  forbids it is refused or disconnected
#   SMTP_SINK_PORT          24027  smtp-sink, discards everything (benchmarks)
#   SMTP_SINK_DUMP_PORT     24028  smtp-sink, dumps each message to SMTP_SINK_DUMP_DIR
#   SMTP_SINK_BIG_PORT      24029  smtp-sink, dumps to SMTP_SINK_BIG_DIR: only for the 1 GiB test,
#                                  so its long transfer never delays the small dump tests
#   KRB5_KDC_PORT           24088  MIT KDC for realm TEST.LOCAL (UDP and TCP)
#   OIDC_PORT               24850  oidc-provider (OAuth2 token issuer), see scripts/servers/oidc.sh
#   DOVECOT_SUBMISSION_PORT 24851  Dovecot submission, STARTTLS (scripts/servers/dovecot.sh)
#   DOVECOT_SUBMISSIONS_PORT 24852 Dovecot submission, implicit TLS
#   POSTGRES_PORT           24800  PostgreSQL for the outbox (scripts/servers/postgres.sh)
# The resulting facts are written to $REPO/.test-servers/env as KEY=value lines.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_LINK="$REPO/.test-servers"

: "${SMTP_STARTTLS_PORT:=24025}"
: "${SMTP_IMPLICIT_PORT:=24465}"
: "${SMTP_PLAIN_PORT:=24026}"
: "${SMTP_AUTH_PORT:=24587}"
: "${SMTP_AUTH_TLSONLY_PORT:=24588}"
: "${SMTP_AUTH_SMTPSVC_PORT:=24589}"
: "${SMTP_STRICT_PIPELINING_PORT:=24590}"
: "${SMTP_SINK_PORT:=24027}"
: "${SMTP_SINK_DUMP_PORT:=24028}"
: "${SMTP_SINK_BIG_PORT:=24029}"
: "${KRB5_KDC_PORT:=24088}"
: "${TEST_USER_PASSWORD:=Alice-Test-Password-1}"
# Postfix's SIZE limit; tests that probe SIZE handling read it from the env file.
: "${SMTP_SIZE_LIMIT:=104857600}"

REALM=TEST.LOCAL
NTLM_DOMAIN=TEST
MAIL_DOMAIN=test.local
LISTEN=127.0.0.1
START_TIMEOUT_SECONDS=30
STOP_TIMEOUT_SECONDS=20

PACKAGES=(postfix sasl2-bin libsasl2-modules libsasl2-modules-gssapi-mit krb5-kdc
  krb5-admin-server krb5-user gss-ntlmssp libgssapi-krb5-2 swaks openssl ca-certificates
  libnet-ssleay-perl libauthen-ntlm-perl
  nodejs dovecot-core dovecot-submissiond dovecot-gssapi curl)
SERVERS="$REPO/scripts/servers"
POSTGRES_SH="$REPO/scripts/servers/postgres.sh"
mapfile -t -O "${#PACKAGES[@]}" PACKAGES < <("$POSTGRES_SH" packages)
# Python mail checkers and headless Chromium for the HTML mail tests.
PYTHON_MAIL="$REPO/scripts/servers/python-mail.sh"
mapfile -t -O "${#PACKAGES[@]}" PACKAGES < <("$PYTHON_MAIL" packages)

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# ---------------------------------------------------------------------------
# Paths (valid once resolve_state_dir has run)
# ---------------------------------------------------------------------------
set_paths() {
  S="$1"
  TLS_DIR="$S/tls"
  PF_CONF="$S/postfix/etc"
  PF_QUEUE="$S/postfix/queue"
  PF_DATA="$S/postfix/data"
  # Debian's Postfix reads Cyrus SASL config from $config_directory/sasl, whatever
  # cyrus_sasl_config_path says.
  PF_SASL="$PF_CONF/sasl"
  SASLDB="$S/postfix/sasldb2"
  MAILDIR_ROOT="$S/maildir"
  MAILDIR_INBOX=inbox
  KRB_DIR="$S/krb5"
  KEYTAB="$KRB_DIR/smtp.keytab"
  NTLM_DIR="$S/ntlm"
  SINK_DIR="$S/sink"
  SINK_DUMP_DIR="$SINK_DIR/dump"
  SINK_BIG_DIR="$SINK_DIR/big"
  LOG_DIR="$S/logs"
  ENV_FILE="$S/env"
}

# Resolves (and for `start`, creates) the state dir without following into a stale place.
resolve_state_dir() {
  local create="$1"
  if [[ -L "$STATE_LINK" ]]; then
    set_paths "$(readlink -f "$STATE_LINK")"
    if [[ "$create" == yes ]]; then
      mkdir -p "$S"
    fi
    return 0
  fi
  if [[ -d "$STATE_LINK" || "$create" != yes ]]; then
    set_paths "$STATE_LINK"
    return 0
  fi
  if runuser -u nobody -- test -x "$REPO" 2>/dev/null; then
    mkdir -p "$STATE_LINK"
    set_paths "$STATE_LINK"
  else
    local hash
    hash="$(printf '%s' "$REPO" | sha256sum | cut -c1-12)"
    local outside="/var/tmp/smtpcm-test-servers-$hash"
    log "$REPO is not reachable by unprivileged users; state lives in $outside"
    mkdir -p "$outside"
    chmod 755 "$outside"
    ln -sfn "$outside" "$STATE_LINK"
    set_paths "$outside"
  fi
  chmod 755 "$S"
}

# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------
missing_packages() {
  local p status
  for p in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)"
    [[ "$status" == ii* ]] || printf '%s\n' "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) && return 0
  [[ $EUID -eq 0 ]] || die "packages missing (${missing[*]}) and not root to install them"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Without init, package scripts must not try to start the system-wide daemons; and the
  # system Postfix stays unconfigured because this script runs its own private instance.
  local added_policy=no
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    added_policy=yes
  fi
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  local rc=0
  {
    apt-get -o DPkg::Lock::Timeout=600 update -qq &&
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
  } >"/tmp/smtpcm-test-servers-apt.$$.log" 2>&1 || rc=$?
  [[ "$added_policy" == yes ]] && rm -f /usr/sbin/policy-rc.d
  if ((rc != 0)); then
    tail -n 30 "/tmp/smtpcm-test-servers-apt.$$.log" >&2
    die "apt-get failed (exit $rc); full log: /tmp/smtpcm-test-servers-apt.$$.log"
  fi
  rm -f "/tmp/smtpcm-test-servers-apt.$$.log"
}

# ---------------------------------------------------------------------------
# Process helpers
# ---------------------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/$LISTEN/$1") 2>/dev/null; }

# True when the pidfile names a live process whose executable name is $2.
pid_alive() {
  local pidfile="$1" name="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  [[ -n "$pid" && -r "/proc/$pid/comm" ]] || return 1
  [[ "$(cat "/proc/$pid/comm")" == "$name" ]]
}

kill_pidfile() {
  local pidfile="$1" name="$2" pid i
  if ! pid_alive "$pidfile" "$name"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(tr -dc '0-9' <"$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT_SECONDS * 10; i++)); do
    [[ -e "/proc/$pid" ]] || break
    sleep 0.1
  done
  if [[ -e "/proc/$pid" ]]; then
    log "$name ($pid) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

wait_for_port() {
  local port="$1" what="$2" logfile="$3" i
  for ((i = 0; i < START_TIMEOUT_SECONDS * 10; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  log "$what is not listening on $LISTEN:$port after ${START_TIMEOUT_SECONDS}s; last log lines of $logfile:"
  tail -n 40 "$logfile" >&2 2>/dev/null || true
  return 1
}

# A port taken by something else makes our daemon fail with an obscure log line; say it plainly.
require_port_free() {
  local port="$1" what="$2"
  if port_open "$port"; then
    die "port $port (for $what) is already in use by another process; override it, e.g. ${what}_PORT=NNNN"
  fi
}

# ---------------------------------------------------------------------------
# TLS: a throwaway CA and a server certificate for localhost
# ---------------------------------------------------------------------------
build_tls() {
  mkdir -p "$TLS_DIR"
  [[ -s "$TLS_DIR/ca.pem" && -s "$TLS_DIR/server.pem" && -s "$TLS_DIR/server.key" ]] && return 0
  log "creating test CA and server certificate"
  (
    cd "$TLS_DIR"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
      -keyout ca.key -out ca.pem -subj "/CN=smtpcm test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -sha256 \
      -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    cat >server.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -days 825 -sha256 -extfile server.ext -out server.pem 2>/dev/null
    rm -f server.csr server.ext ca.srl
    chmod 644 ca.pem server.pem
  )
}

# ---------------------------------------------------------------------------
# Kerberos: a private realm TEST.LOCAL with alice and the SMTP service keys
# ---------------------------------------------------------------------------
write_krb5_config() {
  mkdir -p "$KRB_DIR"
  chmod 755 "$KRB_DIR"
  # Realm braces on their own lines: a one-line block gives "Cannot find KDC for realm".
  cat >"$KRB_DIR/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    ignore_acceptor_hostname = true

[realms]
    $REALM = {
        kdc = $LISTEN:$KRB5_KDC_PORT
    }

[domain_realm]
    localhost = $REALM
    .$MAIL_DOMAIN = $REALM
    $MAIL_DOMAIN = $REALM
EOF
  cat >"$KRB_DIR/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = $LISTEN:$KRB5_KDC_PORT
    kdc_tcp_listen = $LISTEN:$KRB5_KDC_PORT

[realms]
    $REALM = {
        database_name = $KRB_DIR/principal
        key_stash_file = $KRB_DIR/stash
        acl_file = $KRB_DIR/kadm5.acl
        max_life = 24h
        max_renewable_life = 7d
    }

[logging]
    kdc = FILE:$LOG_DIR/kdc.log
EOF
  : >"$KRB_DIR/kadm5.acl"
  chmod 644 "$KRB_DIR/krb5.conf" "$KRB_DIR/kdc.conf"
}

krb_env() { env KRB5_CONFIG="$KRB_DIR/krb5.conf" KRB5_KDC_PROFILE="$KRB_DIR/kdc.conf" "$@"; }

# kadmin.local exits 0 even when a query fails, and it warns "No policy specified" for every
# principal; pass its other messages through so real errors are visible.
kadmin_query() {
  krb_env kadmin.local -r "$REALM" -q "$1" 2>&1 >/dev/null | { grep -v "No policy specified" >&2 || true; }
}

build_kdc_database() {
  [[ -s "$KRB_DIR/principal" && -s "$KEYTAB" ]] && return 0
  log "creating Kerberos realm $REALM"
  rm -f "$KRB_DIR"/principal* "$KRB_DIR/stash" "$KEYTAB"
  local master
  master="$(openssl rand -hex 16)"
  krb_env kdb5_util -r "$REALM" create -s -P "$master" >/dev/null
  kadmin_query "addprinc -pw $TEST_USER_PASSWORD alice"
  kadmin_query "addprinc -randkey smtp/localhost"
  kadmin_query "addprinc -randkey SMTPSVC/localhost"
  kadmin_query "ktadd -k $KEYTAB smtp/localhost SMTPSVC/localhost"
  [[ -s "$KEYTAB" ]] || die "kadmin.local did not create $KEYTAB"
  # smtpd reads the keytab after dropping to user postfix.
  chown root:postfix "$KEYTAB"
  chmod 640 "$KEYTAB"
}

start_kdc() {
  if pid_alive "$KRB_DIR/kdc.pid" krb5kdc; then
    log "KDC already running"
    return 0
  fi
  require_port_free "$KRB5_KDC_PORT" KRB5_KDC
  : >"$LOG_DIR/kdc.log"
  # A plain command in the background, so that $! is the daemon itself (env execs it).
  env KRB5_CONFIG="$KRB_DIR/krb5.conf" KRB5_KDC_PROFILE="$KRB_DIR/kdc.conf" \
    krb5kdc -n -r "$REALM" </dev/null >>"$LOG_DIR/kdc.stderr" 2>&1 &
  echo $! >"$KRB_DIR/kdc.pid"
  wait_for_port "$KRB5_KDC_PORT" "KDC" "$LOG_DIR/kdc.log" || die "KDC failed to start"
}

# A ticket cache for alice, so GSSAPI tests need not run kinit themselves.
kinit_alice() {
  printf '%s\n' "$TEST_USER_PASSWORD" |
    KRB5CCNAME="FILE:$KRB_DIR/krb5cc_alice" krb_env kinit "alice@$REALM" >/dev/null ||
    die "kinit alice@$REALM failed against the test KDC (see $LOG_DIR/kdc.log)"
}

# ---------------------------------------------------------------------------
# NTLM (client side, gss-ntlmssp) and Cyrus SASL (server side)
# ---------------------------------------------------------------------------
build_ntlm_files() {
  mkdir -p "$NTLM_DIR"
  printf '%s:alice:%s\n' "$NTLM_DOMAIN" "$TEST_USER_PASSWORD" >"$NTLM_DIR/users"
  printf '%s:alice:%s\n' "$NTLM_DOMAIN" "not-$TEST_USER_PASSWORD" >"$NTLM_DIR/users-wrong-password"
  chmod 600 "$NTLM_DIR/users" "$NTLM_DIR/users-wrong-password"
}

build_sasl() {
  mkdir -p "$PF_SASL"
  cat >"$PF_SASL/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: GSSAPI NTLM PLAIN LOGIN
sasldb_path: $SASLDB
keytab: $KEYTAB
EOF
  chmod 644 "$PF_SASL/smtpd.conf"
  printf '%s' "$TEST_USER_PASSWORD" | saslpasswd2 -p -c -u "$REALM" -f "$SASLDB" alice
  # smtpd (user postfix) opens the sasldb after dropping privileges.
  chown root:postfix "$SASLDB"
  chmod 640 "$SASLDB"
}

# ---------------------------------------------------------------------------
# Postfix: a private instance (postfix -c $PF_CONF) with its own queue and data dirs
# ---------------------------------------------------------------------------
write_postfix_config() {
  mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA" "$MAILDIR_ROOT"
  chown postfix:postfix "$PF_DATA"
  chown nobody:nogroup "$MAILDIR_ROOT"
  chmod 755 "$MAILDIR_ROOT"
  local default_env
  default_env="$(postconf -dh import_environment)"

  cat >"$PF_CONF/main.cf" <<EOF
# Generated by scripts/test-servers.sh; rewritten on every start.
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
mail_owner = postfix
setgid_group = postdrop
maillog_file = $LOG_DIR/postfix.log
maillog_file_prefixes = $LOG_DIR
import_environment = $default_env KRB5_KTNAME=$KEYTAB KRB5_CONFIG=$KRB_DIR/krb5.conf

myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
inet_interfaces = $LISTEN
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
biff = no
# Deliver the bytes the client sent: no header rewriting or added headers for loopback clients.
local_header_rewrite_clients =
always_add_missing_headers = no
disable_mime_output_conversion = yes
smtputf8_enable = yes
message_size_limit = $SMTP_SIZE_LIMIT
mailbox_size_limit = 0
virtual_mailbox_limit = 0
# Nothing may leave this machine.
default_transport = error:test servers deliver only to @$MAIL_DOMAIN
relay_transport = error:test servers deliver only to @$MAIL_DOMAIN

virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_base = $MAILDIR_ROOT
# One Maildir for the whole domain (virtual(8) refuses regexp substitution, so no per-user
# Maildirs); each delivered copy starts with "Delivered-To: <recipient>", which tests filter on.
virtual_mailbox_maps = static:$MAILDIR_INBOX/
virtual_uid_maps = static:$(id -u nobody)
virtual_gid_maps = static:$(getent group nogroup | cut -d: -f3)

smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:$PF_CONF/recipient_access, permit

smtpd_tls_cert_file = $TLS_DIR/server.pem
smtpd_tls_key_file = $TLS_DIR/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtp_tls_security_level = none

cyrus_sasl_config_path = $PF_SASL
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_auth_enable = no
smtpd_sasl_local_domain = $REALM
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
EOF

  cat >"$PF_CONF/recipient_access" <<EOF
/^reject-[^@]*@${MAIL_DOMAIN//./\\.}\$/ 550 5.1.1 Recipient rejected by test policy
EOF

  # Own master.cf: no port 25, nothing chrooted (sasldb, keytab and state dir live outside the queue).
  local smtpd="inet  n       -       n       -       -       smtpd"
  local auth_opts="-o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
  # reject_unauth_pipelining at every stage it can be checked (commands sent ahead of time
  # where RFC 2920 does not allow it); the recipient stage keeps main.cf's policy.
  local strict_opts="-o smtpd_client_restrictions=reject_unauth_pipelining -o smtpd_helo_restrictions=reject_unauth_pipelining -o smtpd_sender_restrictions=reject_unauth_pipelining -o smtpd_data_restrictions=reject_unauth_pipelining"
  cat >"$PF_CONF/master.cf" <<EOF
# Generated by scripts/test-servers.sh; rewritten on every start.
$LISTEN:$SMTP_STARTTLS_PORT $smtpd -o syslog_name=postfix/starttls
$LISTEN:$SMTP_IMPLICIT_PORT $smtpd -o syslog_name=postfix/implicit -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt
$LISTEN:$SMTP_PLAIN_PORT $smtpd -o syslog_name=postfix/plain -o smtpd_tls_security_level=none
$LISTEN:$SMTP_AUTH_PORT $smtpd -o syslog_name=postfix/auth $auth_opts
$LISTEN:$SMTP_AUTH_TLSONLY_PORT $smtpd -o syslog_name=postfix/auth-tlsonly -o smtpd_tls_auth_only=yes $auth_opts
$LISTEN:$SMTP_AUTH_SMTPSVC_PORT $smtpd -o syslog_name=postfix/auth-smtpsvc -o smtpd_sasl_service=SMTPSVC $auth_opts
$LISTEN:$SMTP_STRICT_PIPELINING_PORT $smtpd -o syslog_name=postfix/strict-pipelining -o smtpd_tls_security_level=none -o smtpd_forbid_unauth_pipelining=yes $strict_opts
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

postfix_running() { postfix -c "$PF_CONF" status >/dev/null 2>&1; }

start_postfix() {
  if [[ -s "$PF_CONF/main.cf" ]] && postfix_running; then
    log "Postfix already running"
    return 0
  fi
  local port
  for port in "$SMTP_STARTTLS_PORT" "$SMTP_IMPLICIT_PORT" "$SMTP_PLAIN_PORT" \
    "$SMTP_AUTH_PORT" "$SMTP_AUTH_TLSONLY_PORT" "$SMTP_AUTH_SMTPSVC_PORT" \
    "$SMTP_STRICT_PIPELINING_PORT"; do
    require_port_free "$port" "Postfix listener"
  done
  # A fresh start begins with an empty Maildir, so old runs neither confuse nor fill the disk.
  rm -rf "${MAILDIR_ROOT:?}/$MAILDIR_INBOX"
  write_postfix_config
  touch "$LOG_DIR/postfix.log"
  # `postfix` prints its fatal errors only to a terminal (else to the maillog it may not have
  # opened yet), so failures are re-run under a pseudo-terminal to show the reason.
  if ! postfix -c "$PF_CONF" check >/dev/null 2>&1; then
    script -qec "postfix -c '$PF_CONF' check" /dev/null >&2 || true
    die "postfix check failed for $PF_CONF"
  fi
  if ! postfix -c "$PF_CONF" start >/dev/null 2>&1; then
    tail -n 40 "$LOG_DIR/postfix.log" >&2 || true
    die "postfix start failed (log above: $LOG_DIR/postfix.log)"
  fi
}

# ---------------------------------------------------------------------------
# smtp-sink: one that discards, one that dumps each message to a file
# ---------------------------------------------------------------------------
start_sinks() {
  mkdir -p "$SINK_DIR" "$SINK_DUMP_DIR" "$SINK_BIG_DIR"
  chown nobody:nogroup "$SINK_DUMP_DIR" "$SINK_BIG_DIR"
  if pid_alive "$SINK_DIR/sink.pid" smtp-sink; then
    log "smtp-sink already running"
  else
    require_port_free "$SMTP_SINK_PORT" SMTP_SINK
    smtp-sink -u nobody "$LISTEN:$SMTP_SINK_PORT" 1024 </dev/null >>"$LOG_DIR/sink.log" 2>&1 &
    echo $! >"$SINK_DIR/sink.pid"
  fi
  if pid_alive "$SINK_DIR/sink-dump.pid" smtp-sink; then
    log "dumping smtp-sink already running"
  else
    require_port_free "$SMTP_SINK_DUMP_PORT" SMTP_SINK_DUMP
    # Dumps of large-message tests are big; a fresh start drops the previous run's.
    find "$SINK_DUMP_DIR" -mindepth 1 -delete
    smtp-sink -u nobody -d "$SINK_DUMP_DIR/%Y%m%d-%H%M%S." "$LISTEN:$SMTP_SINK_DUMP_PORT" 256 \
      </dev/null >>"$LOG_DIR/sink-dump.log" 2>&1 &
    echo $! >"$SINK_DIR/sink-dump.pid"
  fi
  if pid_alive "$SINK_DIR/sink-big.pid" smtp-sink; then
    log "smtp-sink for large messages already running"
  else
    require_port_free "$SMTP_SINK_BIG_PORT" SMTP_SINK_BIG
    find "$SINK_BIG_DIR" -mindepth 1 -delete
    smtp-sink -u nobody -d "$SINK_BIG_DIR/%Y%m%d-%H%M%S." "$LISTEN:$SMTP_SINK_BIG_PORT" 16 \
      </dev/null >>"$LOG_DIR/sink-big.log" 2>&1 &
    echo $! >"$SINK_DIR/sink-big.pid"
  fi
}

# ---------------------------------------------------------------------------
# env file
# ---------------------------------------------------------------------------
write_env_file() {
  local tmp="$ENV_FILE.tmp"
  cat >"$tmp" <<EOF
# smtpcm real test servers; generated by scripts/test-servers.sh start. KEY=value, no quoting.
SMTPCM_TEST_HOST=$LISTEN
SMTP_STARTTLS_PORT=$SMTP_STARTTLS_PORT
SMTP_IMPLICIT_PORT=$SMTP_IMPLICIT_PORT
SMTP_PLAIN_PORT=$SMTP_PLAIN_PORT
SMTP_AUTH_PORT=$SMTP_AUTH_PORT
SMTP_AUTH_TLSONLY_PORT=$SMTP_AUTH_TLSONLY_PORT
SMTP_AUTH_SMTPSVC_PORT=$SMTP_AUTH_SMTPSVC_PORT
SMTP_STRICT_PIPELINING_PORT=$SMTP_STRICT_PIPELINING_PORT
SMTP_SINK_PORT=$SMTP_SINK_PORT
SMTP_SINK_DUMP_PORT=$SMTP_SINK_DUMP_PORT
SMTP_SINK_DUMP_DIR=$SINK_DUMP_DIR
SMTP_SINK_BIG_PORT=$SMTP_SINK_BIG_PORT
SMTP_SINK_BIG_DIR=$SINK_BIG_DIR
SMTP_SIZE_LIMIT=$SMTP_SIZE_LIMIT
TLS_CA_FILE=$TLS_DIR/ca.pem
TLS_SERVER_NAME=localhost
MAIL_DOMAIN=$MAIL_DOMAIN
MAILDIR_ROOT=$MAILDIR_ROOT
MAILDIR_INBOX=$MAILDIR_ROOT/$MAILDIR_INBOX
KRB5_CONFIG=$KRB_DIR/krb5.conf
KRB5_KDC_PORT=$KRB5_KDC_PORT
KRB5_REALM=$REALM
KRB5CCNAME=FILE:$KRB_DIR/krb5cc_alice
KRB5_PRINCIPAL=alice@$REALM
KRB5_PASSWORD=$TEST_USER_PASSWORD
KEYTAB=$KEYTAB
KRB5_SERVICE_PRINCIPALS=smtp/localhost@$REALM,SMTPSVC/localhost@$REALM
NTLM_DOMAIN=$NTLM_DOMAIN
NTLM_USER_FILE=$NTLM_DIR/users
NTLM_USER_FILE_WRONG=$NTLM_DIR/users-wrong-password
SASL_USER=alice
SASL_REALM=$REALM
SASL_PASSWORD=$TEST_USER_PASSWORD
POSTFIX_LOG=$LOG_DIR/postfix.log
$("$REPO/scripts/servers/browser.sh" env)
EOF
  cat "$S/oidc/env" "$S/dovecot/env" >>"$tmp"
  "$POSTGRES_SH" env >>"$tmp"
  "$PYTHON_MAIL" env "$S" >>"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------
# verify: check every listener with independent clients (swaks, openssl, python3-gssapi)
# ---------------------------------------------------------------------------
VERIFY_FAILED=0

# check NAME PATTERN CMD...: runs CMD and passes when its output matches the ERE PATTERN.
check() {
  local name="$1" pattern="$2" out
  shift 2
  out="$(timeout 30 "$@" </dev/null 2>&1 || true)"
  if grep -qE -- "$pattern" <<<"$out"; then
    printf 'PASS  %s\n' "$name"
  else
    printf 'FAIL  %s (wanted /%s/)\n' "$name" "$pattern"
    tail -n 15 <<<"$out" | sed 's/^/      | /'
    VERIFY_FAILED=1
  fi
}

cmd_verify() {
  resolve_state_dir no
  [[ -s "$ENV_FILE" ]] || die "servers are not running (no $ENV_FILE); run '$0 start' first"
  if ! /usr/bin/python3 -c 'import gssapi' 2>/dev/null; then
    log "installing python3-gssapi for the GSSAPI/NTLM checks"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      --no-install-recommends python3-gssapi >/dev/null
  fi
  # A per-run tag, so the Maildir check counts only this run's deliveries.
  local tag="r$$-$RANDOM"
  local ca="$TLS_DIR/ca.pem" from=verify@example.com pw="$TEST_USER_PASSWORD"
  local swaks=(swaks --server "$LISTEN" --from "$from" --timeout 20 --auth-hide-password)
  local tls=(--tls-verify --tls-ca-path "$ca")
  local gss=(/usr/bin/python3 "$REPO/scripts/lib/gss_smtp_auth.py" "$ENV_FILE")

  check "openssl: implicit TLS verifies against the test CA" 'Verify return code: 0 \(ok\)' \
    openssl s_client -connect "$LISTEN:$SMTP_IMPLICIT_PORT" -CAfile "$ca" \
    -verify_hostname localhost -verify_return_error
  check "openssl: STARTTLS verifies against the test CA" 'Verify return code: 0 \(ok\)' \
    openssl s_client -connect "$LISTEN:$SMTP_STARTTLS_PORT" -starttls smtp -CAfile "$ca" \
    -verify_hostname localhost -verify_return_error
  check "STARTTLS listener delivers over STARTTLS" '250 2\.0\.0 Ok: queued' \
    "${swaks[@]}" --port "$SMTP_STARTTLS_PORT" --to verify-starttls-$tag@$MAIL_DOMAIN --tls "${tls[@]}"
  check "STARTTLS listener rejects reject-* with 550" '<\*\* +550 5\.1\.1' \
    "${swaks[@]}" --port "$SMTP_STARTTLS_PORT" --to reject-verify@$MAIL_DOMAIN
  check "STARTTLS listener refuses other domains" '<\*\* +554 5\.7\.1' \
    "${swaks[@]}" --port "$SMTP_STARTTLS_PORT" --to someone@example.com
  check "implicit listener delivers in wrapper mode" '250 2\.0\.0 Ok: queued' \
    "${swaks[@]}" --port "$SMTP_IMPLICIT_PORT" --to verify-implicit-$tag@$MAIL_DOMAIN --tlsc "${tls[@]}"
  check "plain listener offers no STARTTLS" '\*\*\* Host did not advertise STARTTLS' \
    "${swaks[@]}" --port "$SMTP_PLAIN_PORT" --to verify-plain-$tag@$MAIL_DOMAIN --tls
  check "auth listener refuses anonymous mail" '<\*\* +554 5\.7\.1' \
    "${swaks[@]}" --port "$SMTP_AUTH_PORT" --to verify-anon-$tag@$MAIL_DOMAIN
  local mech
  for mech in NTLM PLAIN LOGIN; do
    check "auth listener: AUTH $mech (swaks)" '235 2\.7\.0' \
      "${swaks[@]}" --port "$SMTP_AUTH_PORT" --to "verify-$mech-$tag@$MAIL_DOMAIN" \
      --auth "$mech" --auth-user alice --auth-password "$pw"
  done
  check "auth listener: wrong password gives 535" '535 5\.7\.8' \
    "${swaks[@]}" --port "$SMTP_AUTH_PORT" --to verify-wrong-$tag@$MAIL_DOMAIN \
    --auth LOGIN --auth-user alice --auth-password "not-$pw"
  check "tls-only listener: no AUTH before STARTTLS" '\*\*\* Host did not advertise authentication' \
    "${swaks[@]}" --port "$SMTP_AUTH_TLSONLY_PORT" --to verify-tlsonly-$tag@$MAIL_DOMAIN \
    --auth PLAIN --auth-user alice --auth-password "$pw"
  check "tls-only listener: AUTH PLAIN after STARTTLS" '235 2\.7\.0' \
    "${swaks[@]}" --port "$SMTP_AUTH_TLSONLY_PORT" --to verify-tlsonly-$tag@$MAIL_DOMAIN --tls "${tls[@]}" \
    --auth PLAIN --auth-user alice --auth-password "$pw"
  check "auth listener: GSSAPI as smtp@localhost" '^235' \
    "${gss[@]}" SMTP_AUTH_PORT gssapi smtp@localhost
  check "tls-only listener: GSSAPI after STARTTLS" '^235' \
    "${gss[@]}" SMTP_AUTH_TLSONLY_PORT gssapi smtp@localhost STARTTLS
  check "SMTPSVC listener: GSSAPI as SMTPSVC@localhost" '^235' \
    "${gss[@]}" SMTP_AUTH_SMTPSVC_PORT gssapi SMTPSVC@localhost
  check "SMTPSVC listener: refuses smtp@localhost tickets" '^535' \
    "${gss[@]}" SMTP_AUTH_SMTPSVC_PORT gssapi smtp@localhost
  check "auth listener: NTLMv2 via gss-ntlmssp (NTLM_USER_FILE)" '^235' \
    "${gss[@]}" SMTP_AUTH_PORT ntlm NTLM_USER_FILE
  check "auth listener: NTLM with the wrong-password file gives 535" '^535' \
    "${gss[@]}" SMTP_AUTH_PORT ntlm NTLM_USER_FILE_WRONG
  check "smtp-sink accepts mail" '250 2\.0\.0 Ok' \
    "${swaks[@]}" --port "$SMTP_SINK_PORT" --to verify-sink-$tag@$MAIL_DOMAIN
  check "dumping smtp-sink accepts mail" '250 2\.0\.0 Ok' \
    "${swaks[@]}" --port "$SMTP_SINK_DUMP_PORT" --to verify-sink-dump-$tag@$MAIL_DOMAIN

  local i delivered=0
  for ((i = 0; i < 100; i++)); do
    delivered="$(grep -l "^Delivered-To: verify-[A-Za-z]*-$tag@" \
      "$MAILDIR_ROOT/$MAILDIR_INBOX"/new/* 2>/dev/null | wc -l)"
    ((delivered >= 6)) && break
    sleep 0.1
  done
  if ((delivered >= 6)); then
    printf 'PASS  Maildir holds the delivered verify messages\n'
  else
    printf 'FAIL  Maildir holds %s of 6 verify messages (see %s)\n' "$delivered" "$LOG_DIR/postfix.log"
    VERIFY_FAILED=1
  fi
  ((VERIFY_FAILED == 0)) || die "verification failed"
  log "all checks passed"
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
cmd_start() {
  [[ $EUID -eq 0 ]] || die "must run as root (Postfix, the KDC and smtp-sink need it)"
  install_packages
  # Chromium and Playwright for the designer's browser tests (nothing to start).
  "$REPO/scripts/servers/browser.sh" install
  resolve_state_dir yes
  mkdir -p "$LOG_DIR"
  rm -f "$ENV_FILE"
  build_tls
  write_krb5_config
  build_kdc_database
  build_ntlm_files
  build_sasl
  start_kdc
  kinit_alice
  start_postfix
  start_sinks
  "$POSTGRES_SH" start "$S/postgres"

  local failed=0
  wait_for_port "$SMTP_STARTTLS_PORT" "SMTP_STARTTLS" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_IMPLICIT_PORT" "SMTP_IMPLICIT" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_PLAIN_PORT" "SMTP_PLAIN" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_AUTH_PORT" "SMTP_AUTH" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_AUTH_TLSONLY_PORT" "SMTP_AUTH_TLSONLY" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_AUTH_SMTPSVC_PORT" "SMTP_AUTH_SMTPSVC" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_STRICT_PIPELINING_PORT" "SMTP_STRICT_PIPELINING" "$LOG_DIR/postfix.log" || failed=1
  wait_for_port "$SMTP_SINK_PORT" "SMTP_SINK" "$LOG_DIR/sink.log" || failed=1
  wait_for_port "$SMTP_SINK_DUMP_PORT" "SMTP_SINK_DUMP" "$LOG_DIR/sink-dump.log" || failed=1
  wait_for_port "$SMTP_SINK_BIG_PORT" "SMTP_SINK_BIG" "$LOG_DIR/sink-big.log" || failed=1
  ((failed == 0)) || die "some listeners did not come up (run '$0 stop' to clean up)"

  "$SERVERS/oidc.sh" start "$S/oidc"
  SMTP_SINK_DUMP_PORT="$SMTP_SINK_DUMP_PORT" TLS_DIR="$TLS_DIR" KEYTAB="$KEYTAB" \
    KRB5_CONFIG="$KRB_DIR/krb5.conf" OIDC_ENV="$S/oidc/env" TEST_USER_PASSWORD="$TEST_USER_PASSWORD" \
    "$SERVERS/dovecot.sh" start "$S/dovecot"

  "$PYTHON_MAIL" start "$S" || die "could not set up the Python mail checkers"
  write_env_file
  log "all listeners up; env file: $ENV_FILE"
}

cmd_stop() {
  resolve_state_dir no
  rm -f "$ENV_FILE"
  if [[ -s "$PF_CONF/main.cf" ]] && command -v postfix >/dev/null && postfix_running; then
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
    local i
    # master removes its pid file last; wait for the process itself, not just the signal.
    for ((i = 0; i < STOP_TIMEOUT_SECONDS * 10; i++)); do
      postfix_running || break
      sleep 0.1
    done
    if postfix_running; then
      log "Postfix master did not exit; killing it"
      kill_pidfile "$PF_QUEUE/pid/master.pid" master
    fi
  fi
  kill_pidfile "$SINK_DIR/sink.pid" smtp-sink
  kill_pidfile "$SINK_DIR/sink-dump.pid" smtp-sink
  kill_pidfile "$SINK_DIR/sink-big.pid" smtp-sink
  kill_pidfile "$KRB_DIR/kdc.pid" krb5kdc
  "$SERVERS/dovecot.sh" stop "$S/dovecot"
  "$SERVERS/oidc.sh" stop "$S/oidc"
  "$POSTGRES_SH" stop "$S/postgres"
  log "stopped"
}

cmd_status() {
  resolve_state_dir no
  local ok=0 name port
  report() {
    if port_open "$2"; then
      printf '%-20s up    %s:%s\n' "$1" "$LISTEN" "$2"
    else
      printf '%-20s DOWN  %s:%s\n' "$1" "$LISTEN" "$2"
      ok=1
    fi
  }
  for name in SMTP_STARTTLS SMTP_IMPLICIT SMTP_PLAIN SMTP_AUTH SMTP_AUTH_TLSONLY SMTP_AUTH_SMTPSVC SMTP_STRICT_PIPELINING SMTP_SINK SMTP_SINK_DUMP SMTP_SINK_BIG KRB5_KDC; do
    port="${name}_PORT"
    report "$name" "${!port}"
  done
  "$SERVERS/oidc.sh" status "$S/oidc" || ok=1
  "$SERVERS/dovecot.sh" status "$S/dovecot" || ok=1
  if "$POSTGRES_SH" status "$S/postgres"; then
    printf '%-20s up    %s:%s\n' POSTGRES "$LISTEN" "${POSTGRES_PORT:-24800}"
  else
    printf '%-20s DOWN  %s:%s\n' POSTGRES "$LISTEN" "${POSTGRES_PORT:-24800}"
    ok=1
  fi
  if "$PYTHON_MAIL" status "$S" >/dev/null 2>&1; then
    printf '%-20s up\n' PYTHON_MAIL
  else
    printf '%-20s DOWN\n' PYTHON_MAIL
    ok=1
  fi
  "$REPO/scripts/servers/browser.sh" status || ok=1
  if [[ -s "$ENV_FILE" ]]; then
    printf 'env file            %s\n' "$ENV_FILE"
  else
    printf 'env file            missing\n'
    ok=1
  fi
  return "$ok"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
verify) cmd_verify ;;
*)
  echo "usage: $0 start|stop|status|verify" >&2
  exit 2
  ;;
esac
