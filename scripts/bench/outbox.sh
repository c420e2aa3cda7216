# Case 6 of scripts/bench.sh (sourced): delivery from the durable outbox against
# `smtpcm send --count` straight to the same sink, in the same run.
#
# Each round queues OUTBOX_COUNT messages into a fresh SQLite outbox (not timed; its rate is
# recorded as "enqueue msg/s"), then times `smtpcm outbox worker --until-empty` from process
# start to exit, then `smtpcm send --count` of the same message: paired runs, so both meet the
# same load. Both use 4 connections. Target: outbox ≥ 0.8× send.
#
# Each run also records where the CPU went, per message: the client process (user + system,
# from /usr/bin/time), the sink (its utime + stime from /proc, in clock ticks), and how often
# the sink was preempted (its nonvoluntary context switches). smtp-sink is one process: when
# it needs a core of its own to keep up, every microsecond the client takes from that core
# is throughput lost, and these figures show it.

# 20,000: at 10 ms of CPU-time resolution, per-message CPU figures to ±0.5 µs.
OUTBOX_COUNT=${BENCH_OUTBOX_COUNT:-20000}

# sink_cpu: the sink's CPU time so far in clock ticks, and its preemptions, "ticks switches".
sink_cpu() {
    local ticks switches
    ticks=$(awk '{ print $14 + $15 }' "/proc/$SINK_PID/stat")
    switches=$(awk '/^nonvoluntary_ctxt_switches/ { print $2 }' "/proc/$SINK_PID/status")
    echo "$ticks $switches"
}

# outbox_timed CLIENT CMD...: one timed run; records msg/s, client CPU µs/msg, sink CPU µs/msg
# and sink preemptions per 1000 messages.
outbox_timed() {
    local client=$1
    shift
    local start end before after
    before=$(sink_cpu)
    start=$(now)
    /usr/bin/time -f '%U %S' -o "$WORK/cpu" "$@" >"$WORK/out" 2>&1 || {
        cat "$WORK/out" >&2
        die "$client failed in case 6: $*"
    }
    end=$(now)
    after=$(sink_cpu)
    awk -v c="$client" -v n="$OUTBOX_COUNT" -v a="$start" -v b="$end" -v hz="$(getconf CLK_TCK)" \
        -v before="$before" -v after="$after" 'NF == 2 {
            split(before, x, " "); split(after, y, " ")
            printf "6\t%s\tmsg/s\t%.1f\n", c, n / (b - a)
            printf "6\t%s\tcpu us/msg\t%.2f\n", c, ($1 + $2) * 1e6 / n
            printf "6\t%s\tsink cpu us/msg\t%.2f\n", c, (y[1] - x[1]) / hz * 1e6 / n
            printf "6\t%s\tsink preemptions per 1000 msg\t%.1f\n", c, (y[2] - x[2]) * 1000 / n
        }' "$WORK/cpu" >>"$RAW"
    log "case 6  $client: $(tail -n 4 "$RAW" | cut -f3,4 | tr '\t\n' '= ' | sed 's/ $//') (load $(cut -d' ' -f1 /proc/loadavg))"
}

outbox_case() {
    local conn=$1 body=$2 i start mid db
    for ((i = 1; i <= RUNS; i++)); do
        db="$WORK/outbox-$i.sqlite"
        start=$(now)
        "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject bench --body-file "$body" \
            --count "$OUTBOX_COUNT" --outbox "$db" >"$WORK/out" 2>&1 || {
            cat "$WORK/out" >&2
            die "enqueue failed in case 6 (run $i)"
        }
        mid=$(now)
        awk -v n="$OUTBOX_COUNT" -v a="$start" -v b="$mid" 'BEGIN {
            printf "6\tsmtpcm-outbox\tenqueue msg/s\t%.1f\n", n / (b - a) }' >>"$RAW"
        outbox_timed smtpcm-outbox "$SMTPCM" outbox worker --db "$db" --until-empty --concurrency 4
        rm -f "$db" "$db-wal" "$db-shm"
        outbox_timed smtpcm-send "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject bench \
            --body-file "$body" --count "$OUTBOX_COUNT" --parallel 4
    done
}

outbox_report() {
    local send out enq c
    send=$(median 6 smtpcm-send msg/s) || return 0
    out=$(median 6 smtpcm-outbox msg/s)
    enq=$(median 6 smtpcm-outbox "enqueue msg/s")
    echo "| 6. $OUTBOX_COUNT × 1 KiB, 4 connections | smtpcm send --count | $send msg/s | 1.00× |  |"
    echo "|  | smtpcm outbox worker (SQLite) | $out msg/s | $(ratio "$out" "$send")× | ≥ 0.8× send: $(verdict "$(ratio "$out" "$send")" '>=' 0.8) |"
    echo "|  | (enqueue, one transaction) | $enq msg/s |  |  |"
    echo
    echo "Case 6, where the CPU went (medians, per message):"
    echo
    echo "| client | client CPU µs/msg | sink CPU µs/msg | sink preemptions per 1000 msg |"
    echo "|---|---|---|---|"
    for c in smtpcm-send smtpcm-outbox; do
        echo "| $c | $(median 6 "$c" "cpu us/msg") | $(median 6 "$c" "sink cpu us/msg") | $(median 6 "$c" "sink preemptions per 1000 msg") |"
    done
}
