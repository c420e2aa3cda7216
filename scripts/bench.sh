#!/usr/bin/env bash
# Side-by-side benchmarks of smtpcm against its peers (issue 5), on this machine, against one
# Postfix smtp-sink on loopback that this script starts on a free port and stops at the end.
#
# Usage: scripts/bench.sh            (from anywhere; installs what it needs with apt-get)
#
# Knobs (environment):
#   BENCH_RUNS=3            runs per throughput measurement; the table shows the median
#   BENCH_ONE_COUNT=10000   messages for case 1 (one connection)
#   BENCH_RECONNECT_COUNT=10000  messages for case 2 (a new connection each)
#   BENCH_PARALLEL_COUNT=50000   messages for case 3 (8 connections)
#   BENCH_LETTRE_COUNT=500  messages lettre sends in cases 1 and 2: lettre 0.11 leaves Nagle on and
#                           stalls ~40 ms per message, so 10,000 would take 8 minutes a run
#   BENCH_BIG_MIB=1024      attachment size for case 4 (scale down only for a quick try)
#   BENCH_BIG_RUNS=1        runs per client for case 4 (Python needs minutes for 1 GiB)
#   BENCH_SINGLE_RUNS=30    runs per client for case 5 (one send, process start to exit)
#   BENCH_OUTBOX_COUNT=20000  messages for case 6 (outbox delivery against send --count)
#   BENCH_INLINE_MIB=100    inline image size for case 7 (an HTML mail, smtpcm only)
#   BENCH_RESULTS=<path>    where the table goes (default: <target dir>/bench/results.md)
#   BENCH_SKIP_PEERS=1      leave out Python and lettre (and do not build lettre-client and
#                           smtpcm-client): smtpcm against smtp-source and the reference clients
#   BENCH_CASES="1 2 3 4 5 6 7" which cases to run (e.g. BENCH_CASES="1 3" for the throughput
#                           cases against the reference clients only)
#   CARGO_TARGET_DIR        honoured for every build
#
# Not part of scripts/test.sh or CI: the numbers mean something only on a quiet machine.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR="$ROOT/scripts/bench"
RUNS=${BENCH_RUNS:-3}
ONE_COUNT=${BENCH_ONE_COUNT:-10000}
RECONNECT_COUNT=${BENCH_RECONNECT_COUNT:-10000}
PARALLEL_COUNT=${BENCH_PARALLEL_COUNT:-50000}
LETTRE_COUNT=${BENCH_LETTRE_COUNT:-500}
BIG_MIB=${BENCH_BIG_MIB:-1024}
BIG_RUNS=${BENCH_BIG_RUNS:-1}
SINGLE_RUNS=${BENCH_SINGLE_RUNS:-30}
CASES=${BENCH_CASES:-1 2 3 4 5 6 7}
INLINE_MIB=${BENCH_INLINE_MIB:-100}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RESULTS=${BENCH_RESULTS:-$TARGET_DIR/bench/results.md}
FROM=bench@example.com
TO=sink@example.com
HOST=127.0.0.1

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
install_tools() {
    local missing=()
    command -v smtp-sink >/dev/null && command -v smtp-source >/dev/null || missing+=(postfix)
    command -v swaks >/dev/null || missing+=(swaks)
    [[ -x /usr/bin/time ]] || missing+=(time)
    command -v python3 >/dev/null || missing+=(python3)
    command -v hyperfine >/dev/null || missing+=(hyperfine)
    ((${#missing[@]} == 0)) && return
    log "installing: ${missing[*]}"
    [[ $(id -u) == 0 ]] || die "need root to apt-get install ${missing[*]}"
    apt-get update -qq
    # postfix asks debconf questions; the benchmark only uses its smtp-sink and smtp-source.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
    # Installing postfix may start a daemon on :25; it is not used here.
}

build() {
    log "building smtpcm (release) and the Rust peers into $TARGET_DIR"
    export CARGO_TARGET_DIR=$TARGET_DIR
    cargo build --quiet --release -p smtpcm-cli --manifest-path "$ROOT/Cargo.toml"
    if [[ -z ${BENCH_SKIP_PEERS:-} ]]; then
        cargo build --quiet --release --manifest-path "$BENCH_DIR/lettre-client/Cargo.toml"
        cargo build --quiet --release --manifest-path "$BENCH_DIR/smtpcm-client/Cargo.toml"
    fi
    cargo build --quiet --release --manifest-path "$BENCH_DIR/raw-client/Cargo.toml"
    RAW_CLIENT="$TARGET_DIR/release/raw-client"
    SMTPCM="$TARGET_DIR/release/smtpcm"
    LETTRE="$TARGET_DIR/release/lettre-client"
    SMTPCM_CLIENT="$TARGET_DIR/release/smtpcm-client"
    PY="$BENCH_DIR/py_client.py"
    # The interpreter itself, not a version-manager shim (pyenv's adds ~100 ms to every start).
    PYTHON=$(python3 -c 'import sys; print(sys.executable)')
}

# ---------------------------------------------------------------- server
SINK_PID=
WORK=
cleanup() {
    # Under `set -e`, a failing last command of an && list would end the trap early.
    if [[ -n $SINK_PID ]]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
    fi
    if [[ -n $WORK ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
# shellcheck source=scripts/bench/outbox.sh
source "$BENCH_DIR/outbox.sh"
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_sink() {
    PORT=$(free_port)
    local user=()
    # smtp-sink refuses to run as root without a user to switch to.
    [[ $(id -u) == 0 ]] && user=(-u nobody)
    # Backlog 1024: case 2 opens connections back to back.
    smtp-sink "${user[@]}" "$HOST:$PORT" 1024 &
    SINK_PID=$!
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('$HOST', $PORT), 1).close()" 2>/dev/null && {
            log "smtp-sink (pid $SINK_PID) listening on $HOST:$PORT"
            return
        }
        sleep 0.1
    done
    die "smtp-sink did not start on $HOST:$PORT"
}

# ---------------------------------------------------------------- measuring
# Raw measurements, one per line: case<TAB>client<TAB>metric<TAB>value
RAW=

now() { date +%s.%N; }

# throughput CASE CLIENT COUNT CMD...: RUNS runs of CMD, each recorded as COUNT / wall seconds.
# Wall time is taken here, the same way for every client, process start to exit.
throughput() {
    local case=$1 client=$2 count=$3
    shift 3
    local i start end
    for ((i = 1; i <= RUNS; i++)); do
        start=$(now)
        "$@" >"$WORK/out" 2>&1 || {
            cat "$WORK/out" >&2
            die "$client failed in case $case (run $i): $*"
        }
        end=$(now)
        local rate
        rate=$(awk -v n="$count" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')
        printf '%s\t%s\tmsg/s\t%s\n' "$case" "$client" "$rate" >>"$RAW"
        log "case $case  $client  run $i/$RUNS: $rate msg/s"
    done
}

# paired CASE COUNT CLIENT...: RUNS rounds; each round runs every client once (its command from
# set_cmd CASE CLIENT),
# in turn, so that every client meets the same machine load (medians of paired runs). Each run
# records msg/s (COUNT / wall seconds, process start to exit) and the CPU time the client
# process used per message (user + system, from /usr/bin/time), in microseconds.
paired() {
    local case=$1 count=$2
    shift 2
    local i client
    for ((i = 1; i <= RUNS; i++)); do
        for client in "$@"; do
            set_cmd "$case" "$client"
            local start end
            start=$(now)
            /usr/bin/time -f '%U %S' -o "$WORK/cpu" "${CMD[@]}" >"$WORK/out" 2>&1 || {
                cat "$WORK/out" >&2
                die "$client failed in case $case (run $i)"
            }
            end=$(now)
            local rate cpu
            rate=$(awk -v n="$count" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')
            cpu=$(awk -v n="$count" 'NF == 2 { printf "%.2f", ($1 + $2) * 1e6 / n }' "$WORK/cpu")
            printf '%s\t%s\tmsg/s\t%s\n%s\t%s\tcpu us/msg\t%s\n' "$case" "$client" "$rate" "$case" "$client" "$cpu" >>"$RAW"
            log "case $case  $client  run $i/$RUNS: $rate msg/s, $cpu µs CPU/msg (load $(cut -d' ' -f1 /proc/loadavg))"
        done
    done
}

# big CLIENT CMD...: BIG_RUNS runs under /usr/bin/time -v; records wall seconds and peak RSS MiB
# (as case 4, or as the case in BIG_CASE).
big() {
    local client=$1 case=${BIG_CASE:-4}
    shift
    local i
    for ((i = 1; i <= BIG_RUNS; i++)); do
        /usr/bin/time -v -o "$WORK/time" "$@" >"$WORK/out" 2>&1 || {
            cat "$WORK/out" "$WORK/time" >&2
            die "$client failed in case $case (run $i): $*"
        }
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0; for (k = 1; k <= n; k++) s = s * 60 + p[k]; printf "%.2f", s }' "$WORK/time")
        rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/time")
        printf '%s\t%s\twall s\t%s\n%s\t%s\tpeak RSS MiB\t%s\n' "$case" "$client" "$wall" "$case" "$client" "$rss" >>"$RAW"
        log "case $case  $client  run $i/$BIG_RUNS: $wall s, $rss MiB peak RSS"
    done
}

# single CLIENT CMD...: process start to exit of one send, SINGLE_RUNS times (milliseconds).
single() {
    local client=$1
    shift
    if command -v hyperfine >/dev/null; then
        hyperfine --style none -N --warmup 3 --runs "$SINGLE_RUNS" \
            --export-json "$WORK/hf.json" "$(printf '%q ' "$@")" >/dev/null 2>"$WORK/out" || {
            cat "$WORK/out" >&2
            die "$client failed in case 5: $*"
        }
        python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["results"][0]["times"]:
    print(f"5\t{sys.argv[2]}\tms\t{t * 1000:.2f}")' "$WORK/hf.json" "$client" >>"$RAW"
    else
        local i start end
        for ((i = 1; i <= SINGLE_RUNS; i++)); do
            start=$(now)
            "$@" >"$WORK/out" 2>&1 || {
                cat "$WORK/out" >&2
                die "$client failed in case 5: $*"
            }
            end=$(now)
            awk -v c="$client" -v a="$start" -v b="$end" 'BEGIN { printf "5\t%s\tms\t%.2f\n", c, (b - a) * 1000 }' >>"$RAW"
        done
    fi
    log "case 5  $client: $SINGLE_RUNS runs done"
}

# ---------------------------------------------------------------- report
# median CASE CLIENT METRIC
median() {
    awk -F'\t' -v c="$1" -v k="$2" -v m="$3" '$1 == c && $2 == k && $3 == m { print $4 }' "$RAW" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# verdict VALUE OP LIMIT: "met" or "MISSED" (OP is >= or <=)
verdict() {
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (v >= l) : (v <= l); print ok ? "met" : "MISSED" }'
}

report() {
    local py_wall
    {
        echo "| case | client | median | vs baseline | vs push | vs round-trip | CPU/msg | target |"
        echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
        # Cases 1-3: msg/s, baseline smtp-source, higher is better; cases 1 and 3 also
        # against the two reference clients measured in the same rounds.
        local case title target_ratio
        for case in 1 2 3; do
            case $case in
            1) title="1. $ONE_COUNT × 1 KiB, one connection" target_ratio=2.5 ;;
            2) title="2. $RECONNECT_COUNT × 1 KiB, new connection each" target_ratio= ;;
            3) title="3. $PARALLEL_COUNT × 1 KiB, 8 connections" target_ratio= ;;
            esac
            local base push rt client m r target cpu
            base=$(median "$case" smtp-source msg/s) || continue
            push=$(median "$case" push msg/s) || push=
            rt=$(median "$case" round-trip msg/s) || rt=
            for client in smtpcm smtp-source push round-trip python lettre; do
                m=$(median "$case" "$client" msg/s) || continue
                r=$(ratio "$m" "$base")
                cpu=$(median "$case" "$client" "cpu us/msg") || cpu=
                local vs_push= vs_rt=
                [[ -n $push ]] && vs_push="$(ratio "$m" "$push")×"
                [[ -n $rt ]] && vs_rt="$(ratio "$m" "$rt")×"
                target=
                if [[ $client == smtpcm ]]; then
                    [[ -n $target_ratio ]] &&
                        target="≥ ${target_ratio}× smtp-source: $(verdict "$r" '>=' "$target_ratio")"
                    [[ $case == 3 && -n $push ]] &&
                        target="≥ 0.5× push: $(verdict "$(ratio "$m" "$push")" '>=' 0.5)"
                    [[ $case == 1 && -n $cpu ]] &&
                        target="$target; CPU ≤ 30 µs/msg: $(verdict "$cpu" '<=' 30)"
                fi
                echo "| $title | $client | $m msg/s | ${r}× | $vs_push | $vs_rt | ${cpu:+$cpu µs} | $target |"
                title=
            done
        done
        # Case 4: wall and RSS, baseline Python, lower is better.
        title="4. one $BIG_MIB MiB attachment"
        py_wall=$(median 4 python "wall s") || py_wall=
        local push_wall
        push_wall=$(median 4 push "wall s") || push_wall=
        for client in smtpcm push python lettre; do
            local w rss r target=
            w=$(median 4 "$client" "wall s") || continue
            rss=$(median 4 "$client" "peak RSS MiB")
            r=
            [[ -n $py_wall ]] && r="$(ratio "$w" "$py_wall")× wall"
            local vs_push=
            # Against the raw push: its wall time over ours, so higher is better, as a rate.
            [[ -n $push_wall ]] && vs_push="$(ratio "$push_wall" "$w")× rate"
            [[ $client == smtpcm ]] &&
                target="RSS ≤ 16 MiB: $(verdict "$rss" '<=' 16)${push_wall:+; ≥ 0.9× push rate: $(verdict "$(ratio "$push_wall" "$w")" '>=' 0.9)}"
            echo "| $title | $client | $w s, $rss MiB peak RSS | $r | $vs_push |  |  | $target |"
            title=
        done
        # Case 5: one send, process start to exit, baseline Python, lower is better.
        title="5. one send, start to exit"
        local py_ms
        py_ms=$(median 5 python ms) || py_ms=1
        for client in smtpcm swaks python; do
            local ms
            ms=$(median 5 "$client" ms) || continue
            echo "| $title | $client | $ms ms | $(ratio "$ms" "$py_ms")× |  |  |  |  |"
            title=
        done
        outbox_report
        # Case 7: an HTML mail with one large inline image (multipart/related), smtpcm only.
        local w7 rss7
        if w7=$(median 7 smtpcm "wall s"); then
            rss7=$(median 7 smtpcm "peak RSS MiB")
            echo "| 7. HTML mail, one $INLINE_MIB MiB inline image | smtpcm | $w7 s, $rss7 MiB peak RSS |  | RSS ≤ 32 MiB: $(verdict "$rss7" '<=' 32) |"
        fi
        echo
        echo "push: pre-encoded messages written without waiting for any reply (not RFC-compliant; the ceiling)." \
            "round-trip: pre-encoded, RFC 2920-compliant, one round trip per message (the floor for DATA)." \
            "CPU/msg: user + system CPU time of the client process per message."
        echo "Cases 1-3: messages per second, process start to exit, baseline smtp-source (higher is better);" \
            "lettre sends $LETTRE_COUNT messages in cases 1 and 2. Case 4: wall time and peak RSS from" \
            "/usr/bin/time -v, baseline Python (lower is better). Case 5: milliseconds, baseline Python."
    } >"$WORK/table"
}

# ---------------------------------------------------------------- main
main() {
    install_tools
    build
    WORK=$(mktemp -d /tmp/smtpcm-bench.XXXXXX)
    RAW="$WORK/raw.tsv"
    : >"$RAW"
    start_sink
    local started
    started=$(now)

    local conn="SmtpServer=$HOST;Port=$PORT;UseWindowsAuthentication=False;EnableSsl=False;"
    # 1 KiB of body for every client: 16 lines of 63 characters and a newline.
    local body="$WORK/body.txt"
    for _ in $(seq 16); do printf '%063d\n' 0 | tr 0 x; done >"$body"
    local smtpcm_send=("$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject bench --body-file "$body")
    local source=(smtp-source -f "$FROM" -t "$TO" -l 1024)

    # The pre-encoded message of the reference clients: smtpcm's headers, the same body.
    local message="$WORK/message.eml"
    {
        printf 'From: %s\r\nTo: %s\r\nSubject: bench\r\nDate: %s\r\n' "$FROM" "$TO" "$(date -R)"
        printf 'Message-ID: <0123456789abcdef0123456789abcdef@example.com>\r\nMIME-Version: 1.0\r\n'
        printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
        sed 's/$/\r/' "$body"
    } >"$message"
    local load_start
    load_start=$(cut -d' ' -f1-3 /proc/loadavg)

    # The commands of the paired cases (main's locals are visible to set_cmd).
    set_cmd() {
        case "$1/$2" in
        1/smtpcm) CMD=("${smtpcm_send[@]}" --count "$ONE_COUNT") ;;
        1/smtp-source) CMD=("${source[@]}" -d -s 1 -m "$ONE_COUNT" "$HOST:$PORT") ;;
        1/push) CMD=("$RAW_CLIENT" push "$HOST" "$PORT" "$ONE_COUNT" "$message" 1) ;;
        1/round-trip) CMD=("$RAW_CLIENT" round-trip "$HOST" "$PORT" "$ONE_COUNT" "$message" 1) ;;
        3/smtpcm) CMD=("${smtpcm_send[@]}" --count "$PARALLEL_COUNT" --parallel 8) ;;
        3/smtp-source) CMD=("${source[@]}" -d -s 8 -m "$PARALLEL_COUNT" "$HOST:$PORT") ;;
        3/push) CMD=("$RAW_CLIENT" push "$HOST" "$PORT" "$PARALLEL_COUNT" "$message" 8) ;;
        3/round-trip) CMD=("$RAW_CLIENT" round-trip "$HOST" "$PORT" "$PARALLEL_COUNT" "$message" 8) ;;
        *) die "no command for case $1, client $2" ;;
        esac
    }

    if [[ " $CASES " == *" 1 "* ]]; then
        log "case 1: $ONE_COUNT messages over one connection"
        paired 1 "$ONE_COUNT" smtpcm smtp-source push round-trip
        if [[ -z ${BENCH_SKIP_PEERS:-} ]]; then
            throughput 1 python "$ONE_COUNT" "$PYTHON" "$PY" "$HOST" "$PORT" one-connection "$ONE_COUNT"
            throughput 1 lettre "$LETTRE_COUNT" "$LETTRE" "$HOST" "$PORT" one-connection "$LETTRE_COUNT"
        fi
    fi

    if [[ " $CASES " == *" 2 "* ]]; then
        log "case 2: $RECONNECT_COUNT messages, a new connection for each"
        throughput 2 smtpcm "$RECONNECT_COUNT" "$SMTPCM_CLIENT" "$HOST" "$PORT" per-message "$RECONNECT_COUNT"
        throughput 2 smtp-source "$RECONNECT_COUNT" "${source[@]}" -s 1 -m "$RECONNECT_COUNT" "$HOST:$PORT"
        throughput 2 python "$RECONNECT_COUNT" "$PYTHON" "$PY" "$HOST" "$PORT" per-message "$RECONNECT_COUNT"
        throughput 2 lettre "$LETTRE_COUNT" "$LETTRE" "$HOST" "$PORT" per-message "$LETTRE_COUNT"
    fi

    if [[ " $CASES " == *" 3 "* ]]; then
        log "case 3: $PARALLEL_COUNT messages over 8 connections"
        paired 3 "$PARALLEL_COUNT" smtpcm smtp-source push round-trip
    fi

    if [[ " $CASES " == *" 4 "* ]]; then
        log "case 4: one $BIG_MIB MiB attachment"
        local big_file="$WORK/big.bin"
        head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$big_file"
        big smtpcm "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject "bench attachment" \
            --body "See the attachment." --attach "$big_file"
        # The raw push: the same attachment pre-encoded (base64, 76-column CRLF lines) in a
        # message file the kernel copies to the socket.
        local big_eml="$WORK/big.eml"
        {
            printf 'From: %s\r\nTo: %s\r\nSubject: bench attachment\r\nMIME-Version: 1.0\r\n' "$FROM" "$TO"
            printf 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            base64 -w 76 "$big_file" | sed 's/$/\r/'
        } >"$big_eml"
        big push "$RAW_CLIENT" sendfile "$HOST" "$PORT" 1 "$big_eml"
        rm -f "$big_eml"
        if [[ -z ${BENCH_SKIP_PEERS:-} ]]; then
            big python "$PYTHON" "$PY" "$HOST" "$PORT" attachment "$big_file"
            big lettre "$LETTRE" "$HOST" "$PORT" attachment "$big_file"
        fi
        rm -f "$big_file"
    fi

    if [[ " $CASES " == *" 5 "* ]]; then
        log "case 5: one send, process start to exit"
        single smtpcm "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject bench --body-file "$body"
        single swaks swaks --silent 2 --server "$HOST" --port "$PORT" --from "$FROM" --to "$TO" \
            --header "Subject: bench" --body "@$body"
        single python "$PYTHON" "$PY" "$HOST" "$PORT" single 1
    fi

    if [[ " $CASES " == *" 6 "* ]]; then
        log "case 6: $OUTBOX_COUNT messages from the outbox against send --count"
        outbox_case "$conn" "$body"
    fi

    if [[ " $CASES " == *" 7 "* ]]; then
        log "case 7: an HTML mail with one $INLINE_MIB MiB inline image"
        local image="$WORK/chart.png"
        head -c "$((INLINE_MIB * 1024 * 1024))" /dev/urandom >"$image"
        BIG_CASE=7 big smtpcm "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject "bench inline" \
            --html-body '<p>Chart:</p><img src="cid:chart@bench">' --inline "chart@bench=$image"
        rm -f "$image"
    fi

    report
    local minutes
    minutes=$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.1f", (b - a) / 60 }')
    mkdir -p "$(dirname "$RESULTS")"
    {
        echo "# smtpcm benchmark results"
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
            "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
            "load average at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "- server: Postfix smtp-sink $(dpkg-query -W -f '${Version}' postfix 2>/dev/null || echo '(version unknown)') on $HOST (PIPELINING, no CHUNKING)"
        echo "- runs: $RUNS per throughput case, $BIG_RUNS for the attachment, $SINGLE_RUNS for one send; medians shown"
        echo "- measuring took $minutes min"
        echo
        cat "$WORK/table"
        echo
        echo "Raw measurements (case, client, metric, value):"
        echo
        echo '```'
        cat "$RAW"
        echo '```'
    } >"$RESULTS"
    echo
    cat "$WORK/table"
    echo
    log "results written to $RESULTS (measuring took $minutes min)"
}

main "$@"
