# Case 6 of scripts/bench.sh (sourced): delivery from the durable outbox against
# `smtpcm send --count` straight to the same sink, in the same run.
#
# Each run queues OUTBOX_COUNT messages into a fresh SQLite outbox (not timed; its rate is
# recorded as "enqueue msg/s"), then times `smtpcm outbox worker --until-empty` from
# process start to exit. Both sides use 4 connections. Target: outbox ≥ 0.8× send.

OUTBOX_COUNT=${BENCH_OUTBOX_COUNT:-10000}

outbox_case() {
    local conn=$1 body=$2 i start mid end db
    throughput 6 smtpcm-send "$OUTBOX_COUNT" "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" \
        --subject bench --body-file "$body" --count "$OUTBOX_COUNT" --parallel 4
    for ((i = 1; i <= RUNS; i++)); do
        db="$WORK/outbox-$i.sqlite"
        start=$(now)
        "$SMTPCM" send -c "$conn" --from "$FROM" --to "$TO" --subject bench --body-file "$body" \
            --count "$OUTBOX_COUNT" --outbox "$db" >"$WORK/out" 2>&1 || {
            cat "$WORK/out" >&2
            die "enqueue failed in case 6 (run $i)"
        }
        mid=$(now)
        "$SMTPCM" outbox worker --db "$db" --until-empty --concurrency 4 >"$WORK/out" 2>&1 || {
            cat "$WORK/out" >&2
            die "outbox worker failed in case 6 (run $i)"
        }
        end=$(now)
        awk -v n="$OUTBOX_COUNT" -v a="$start" -v b="$mid" -v c="$end" 'BEGIN {
            printf "6\tsmtpcm-outbox\tenqueue msg/s\t%.1f\n6\tsmtpcm-outbox\tmsg/s\t%.1f\n", n / (b - a), n / (c - b) }' >>"$RAW"
        log "case 6  outbox run $i/$RUNS: $(tail -n 1 "$RAW" | cut -f4) msg/s delivered"
        rm -f "$db" "$db-wal" "$db-shm"
    done
}

outbox_report() {
    local send out enq
    send=$(median 6 smtpcm-send msg/s) || return 0
    out=$(median 6 smtpcm-outbox msg/s)
    enq=$(median 6 smtpcm-outbox "enqueue msg/s")
    echo "| 6. $OUTBOX_COUNT × 1 KiB, 4 connections | smtpcm send --count | $send msg/s | 1.00× |  |"
    echo "|  | smtpcm outbox worker (SQLite) | $out msg/s | $(ratio "$out" "$send")× | ≥ 0.8× send: $(verdict "$(ratio "$out" "$send")" '>=' 0.8) |"
    echo "|  | (enqueue, one transaction) | $enq msg/s |  |  |"
}
