#!/usr/bin/env bash
# Measures what keyspace notifications (notify-keyspace-events, issue 17)
# cost the write path, on a onebox with petrel-bench (-c 50, pipeline 1):
# SET and INCR throughput with the setting off (the default), with KEA and
# nobody listening (events formatted and matched at the brokers), and with
# KEA and one subscriber to every event (PSUBSCRIBE __key*__:* on redis-cli,
# reading everything). The three settings are measured in turn, ROUNDS
# times, so drift on a shared machine hits them alike; the median and the
# best of the rounds are printed (on a busy machine the best is the
# steadier figure of what the cluster can do).
#
# Usage: bench/keyspace-events.sh [SECONDS]   (default 8 per workload)
# Environment: ROUNDS=N (default 3); PETREL_BENCH_DATA=DIR (default
# /var/tmp) for the onebox's data; ports 18461, 18661 and 18761-18763 on
# 127.0.0.1 must be free. Copy the figures to bench/RESULTS-notes.md with
# the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-tools
cargo build --release --workspace --bins >&2
BIN="$CARGO_TARGET_DIR/release"
SECS="${1:-8}"
ROUNDS="${ROUNDS:-3}"
PROXY_PORT=18461 META_PORT=18661 SERVER_PORT=18761
# shellcheck source=bench/lib.sh
source bench/lib.sh
WORK="$(mktemp -d "${PETREL_BENCH_DATA:-/var/tmp}/petrel-events.XXXXXX")"
SUB=""

start_onebox "$WORK/onebox.log" --dir "$WORK/onebox" --port "$PROXY_PORT" --meta-port "$META_PORT" \
    --server-port "$SERVER_PORT" --servers 3 --replicas 3 --partitions 8
wait_serving "$PROXY_PORT"

# One run of a workload: its ops/s.
run() {
    "$BIN/petrel-bench" --port "$PROXY_PORT" --workload "$1" --clients 50 --pipeline 1 \
        --duration "$SECS" --warmup 2 --json --quiet \
        | python3 -c 'import json,sys
r = json.load(sys.stdin)["endpoints"][0]["runs"][0]
if r["errors"] or r["io_errors"]:
    print("%s: %d errors, %d lost" % (r["workload"], r["errors"], r["io_errors"]), file=sys.stderr)
print(round(r["ops_per_sec"]))'
}

setting() {
    [ "$(redis-cli -p "$PROXY_PORT" config set notify-keyspace-events "$1")" = OK ]
}

declare -A FIGS
for round in $(seq 1 "$ROUNDS"); do
    for mode in off kea listened; do
        case "$mode" in
            off) setting "" ;;
            kea) setting KEA ;;
            listened)
                setting KEA
                redis-cli -p "$PROXY_PORT" psubscribe '__key*__:*' > /dev/null &
                SUB=$!
                PIDS+=("$SUB")
                sleep 1
                ;;
        esac
        for w in set incr; do
            FIGS[$mode,$w]+="$(run "$w") "
        done
        if [ -n "$SUB" ]; then
            kill "$SUB" 2>/dev/null || true
            wait "$SUB" 2>/dev/null || true
            SUB=""
        fi
        echo "round $round $mode: set ${FIGS[$mode,set]}/ incr ${FIGS[$mode,incr]}" >&2
    done
done
setting ""

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { tr ' ' '\n' | grep -v '^$' | sort -n | tail -1; }
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "petrel: onebox, 3 servers, 3 replicas, 8 partitions, durability sync; petrel-bench -c 50 -P 1, ${SECS}s per run, $ROUNDS rounds"
echo
echo "| notify-keyspace-events | SET/s (median, best) | INCR/s (median, best) |"
echo "|---|---|---|"
for mode in off kea listened; do
    label="$mode"
    [ "$mode" = off ] && label='"" (off, default)'
    [ "$mode" = kea ] && label='KEA, no subscriber'
    [ "$mode" = listened ] && label='KEA, one `PSUBSCRIBE __key*__:*`'
    set_figs="${FIGS[$mode,set]}" incr_figs="${FIGS[$mode,incr]}"
    echo "| $label | $(median <<< "$set_figs"), $(best <<< "$set_figs") | $(median <<< "$incr_figs"), $(best <<< "$incr_figs") |"
done
