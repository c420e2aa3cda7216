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
#   BENCH_INLINE_MIB=100    inline image size for case 6 (an HTML mail, smtpcm only)
#   BENCH_RESULTS=<path>    where the table goes (default: <target dir>/bench/results.md)
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
    cargo build --quiet --release --manifest-path "$BENCH_DIR/lettre-client/Cargo.toml"
    cargo build --quiet --release --manifest-path "$BENCH_DIR/smtpcm-client/Cargo.toml"
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
        echo "| case | client | median | vs baseline | target |"
        echo "| --- | --- | ---: | ---: | --- |"
        # Cases 1-3: msg/s, baseline smtp-source, higher is better.
        local case title target_ratio
        for case in 1 2 3; do
            case $case in
            1) title="1. $ONE_COUNT × 1 KiB, one connection" target_ratio=1.5 ;;
            2) title="2. $RECONNECT_COUNT × 1 KiB, new connection each" target_ratio= ;;
            3) title="3. $PARALLEL_COUNT × 1 KiB, 8 connections" target_ratio=1.0 ;;
            esac
            local base client m r target
            base=$(median "$case" smtp-source msg/s)
            for client in smtpcm smtp-source python lettre; do
                m=$(median "$case" "$client" msg/s) || continue
                r=$(ratio "$m" "$base")
                target=
                [[ $client == smtpcm && -n $target_ratio ]] &&
                    target="≥ ${target_ratio}× smtp-source: $(verdict "$r" '>=' "$target_ratio")"
                echo "| $title | $client | $m msg/s | ${r}× | $target |"
                title=
            done
        done
        # Case 4: wall and RSS, baseline Python, lower is better.
        title="4. one $BIG_MIB MiB attachment"
        py_wall=$(median 4 python "wall s")
        for client in smtpcm python lettre; do
            local w rss r target=
            w=$(median 4 "$client" "wall s") || continue
            rss=$(median 4 "$client" "peak RSS MiB")
            r=$(ratio "$w" "$py_wall")
            [[ $client == smtpcm ]] &&
                target="RSS ≤ 32 MiB: $(verdict "$rss" '<=' 32); wall ≤ 0.5× Python: $(verdict "$r" '<=' 0.5)"
            echo "| $title | $client | $w s, $rss MiB peak RSS | ${r}× wall | $target |"
            title=
        done
        # Case 5: one send, process start to exit, baseline Python, lower is better.
        title="5. one send, start to exit"
        local py_ms
        py_ms=$(median 5 python ms)
        for client in smtpcm swaks python; do
            local ms
            ms=$(median 5 "$client" ms) || continue
            echo "| $title | $client | $ms ms | $(ratio "$ms" "$py_ms")× |  |"
            title=
        done
        # Case 6: an HTML mail with one large inline image (multipart/related), smtpcm only.
        local w6 rss6
        if w6=$(median 6 smtpcm "wall s"); then
            rss6=$(median 6 smtpcm "peak RSS MiB")
            echo "| 6. HTML mail, one $INLINE_MIB MiB inline image | smtpcm | $w6 s, $rss6 MiB peak RSS |  | RSS ≤ 32 MiB: $(verdict "$rss6" '<=' 32) |"
        fi
        echo
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

    log "case 1: $ONE_COUNT messages over one connection"
    throughput 1 smtpcm "$ONE_COUNT" "${smtpcm_send[@]}" --count "$ONE_COUNT"
    throughput 1 smtp-source "$ONE_COUNT" "${source[@]}" -d -s 1 -m "$ONE_COUNT" "$HOST:$PORT"
    throughput 1 python "$ONE_COUNT" "$PYTHON" "$PY" "$HOST" "$PORT" one-connection "$ONE_COUNT"
    throughput 1 lettre "$LETTRE_COUNT" "$LETTRE" "$HOST" "$PORT" one-connection "$LETTRE_COUNT"

    log "case 2: $RECONNECT_COUNT messages, a new connection for each"
    throughput 2 smtpcm "$RECONNECT_COUNT" "$SMTPCM_CLIENT" "$HOST" "$PORT" per-message "$RECONNECT_COUNT"
    throughput 2 smtp-source "$RECONNECT_COUNT" "${source[@]}" -s 1 -m "$RECONNECT_COUNT" "$HOST:$PORT"
    throughput 2 python "$RECONNECT_COUNT" "$PYTHON" "$PY" "$HOST" "$PORT" per-message "$RECONNECT_COUNT"
    throughput 2 lettre "$LETTRE_COUNT" "$LETTRE" "$HOST" "$PORT" per-message "$LETTRE_COUNT"

    log "case 3: $PARALLEL_COUNT messages over 8 connections"
    throughput 3 smtpcm "$PARALLEL_COUNT" "${smtpcm_send[@]}" --count "$PARALLEL_COUNT" --parallel 8
    throughput 3 smtp-source "$PARALLEL_COUNT" "${source[@]}" -d -s 8 -m "$PARALLEL_COUNT" "$HOST:$PORT"

    log "case 4: one $BIG_MIB MiB attachment"
    local big_file="$WORK/big.bin"
    head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$big_file"
    big smtpcm "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject "bench attachment" \
        --body "See the attachment." --attach "$big_file"
    big python "$PYTHON" "$PY" "$HOST" "$PORT" attachment "$big_file"
    big lettre "$LETTRE" "$HOST" "$PORT" attachment "$big_file"
    rm -f "$big_file"

    log "case 5: one send, process start to exit"
    single smtpcm "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject bench --body-file "$body"
    single swaks swaks --silent 2 --server "$HOST" --port "$PORT" --from "$FROM" --to "$TO" \
        --header "Subject: bench" --body "@$body"
    single python "$PYTHON" "$PY" "$HOST" "$PORT" single 1

    log "case 6: an HTML mail with one $INLINE_MIB MiB inline image"
    local image="$WORK/chart.png"
    head -c "$((INLINE_MIB * 1024 * 1024))" /dev/urandom >"$image"
    BIG_CASE=6 big smtpcm "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject "bench inline" \
        --html-body '<p>Chart:</p><img src="cid:chart@bench">' --inline "chart@bench=$image"
    rm -f "$image"

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
            "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
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
