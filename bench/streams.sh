#!/usr/bin/env bash
# Measures streams (issue 19) on Petrel and on redis-server in one run,
# with redis-benchmark (-c 50, pipeline 1, 64-byte values):
#   set         SET key:__rand_int__, the reference for a plain write;
#   xadd        XADD stream:__rand_int__ * f <value> over 100 streams;
#   xreadgroup  XREADGROUP GROUP g c COUNT 1 STREAMS stream:__rand_int__ >
#               over the same 100 streams, each filled first and given the
#               group g, so every read delivers one new entry and adds it
#               to the group's pending entries (a write: Petrel replicates
#               it, as it must keep the pending list durable);
#   xrange      XRANGE stream:__rand_int__ - + COUNT 10, a read.
# Petrel: a onebox of 3 servers, 3 replicas, 8 partitions (every write
# replicated and fsynced). Redis: one redis-server without persistence.
# The systems take turns per workload, ROUNDS times, so drift on a shared
# machine hits both alike; the best round per system is printed with its
# latency percentiles (redis-benchmark's, in ms).
#
# Usage: bench/streams.sh [REQUESTS]   (default 100000 per run)
# Environment: ROUNDS=N (default 2); PETREL_BENCH_DATA=DIR (default
# /var/tmp) for the data; PETREL_BENCH_BUILD=0 to use the binaries as
# built. Ports 18482, 18474, 18674 and 18774-18776 on 127.0.0.1 must be
# free. Copy the table to bench/RESULTS-notes.md with the machine line.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-server redis-tools
command -v python3 >/dev/null 2>&1 || ensure_packages python3
if [ "${PETREL_BENCH_BUILD:-1}" != 0 ]; then
    cargo build --release --workspace --bins >&2
fi
BIN="$CARGO_TARGET_DIR/release"
REQUESTS="${1:-100000}"
ROUNDS="${ROUNDS:-2}"
STREAMS=100
REDIS_PORT=18482 PROXY_PORT=18474 META_PORT=18674 SERVER_PORT=18774

# shellcheck source=bench/lib.sh
source bench/lib.sh
for port in $REDIS_PORT $PROXY_PORT $META_PORT $SERVER_PORT \
    $((SERVER_PORT + 1)) $((SERVER_PORT + 2)); do
    if port_in_use "$port"; then echo "streams: port $port is in use" >&2; exit 1; fi
done
mkdir -p "${PETREL_BENCH_DATA:-/var/tmp}"
WORK="$(mktemp -d "${PETREL_BENCH_DATA:-/var/tmp}/petrel-streams.XXXXXX")"

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$WORK" --daemonize no > "$WORK/redis.log" 2>&1 &
PIDS+=("$!")
start_onebox "$WORK/onebox.log" --dir "$WORK/onebox" --port "$PROXY_PORT" --meta-port "$META_PORT" \
    --server-port "$SERVER_PORT" --servers 3 --replicas 3 --partitions 8
for port in "$REDIS_PORT" "$PROXY_PORT"; do wait_serving "$port"; done

VALUE="$(head -c 64 /dev/zero | tr '\0' x)"

# bench PORT ARGS...: one redis-benchmark run of a custom command; prints
# "ops/s p50 p99 max errors" (latencies in ms).
bench() {
    local port=$1 out
    shift
    out="$(redis-benchmark -p "$port" -c 50 -P 1 -n "$REQUESTS" -r "$STREAMS" --csv "$@" 2>&1)"
    python3 -c '
import csv, io, sys
text = sys.argv[1]
errors = sum(1 for l in text.splitlines() if "error" in l.lower())
rows = [r for r in csv.reader(io.StringIO(text)) if r and r[0] != "test"]
if not rows:
    print("0 0 0 0", errors + 1)
    sys.exit(0)
r = rows[-1]
# test,rps,avg,min,p50,p95,p99,max
print(r[1], r[4], r[6], r[7], errors)
' "$out"
}

# fill PORT: every stream gets enough entries for the reads, and group g.
fill() {
    local port=$1 i per
    per=$((REQUESTS / STREAMS * 2 + 100))
    for i in $(seq 0 $((STREAMS - 1))); do
        printf -v key 'stream:%012d' "$i"
        redis-cli -p "$port" del "$key" > /dev/null
        redis-cli -p "$port" xgroup create "$key" g '$' mkstream > /dev/null
    done
    # Entries added after the group was created are new to it.
    redis-benchmark -p "$port" -c 50 -n $((per * STREAMS)) -r "$STREAMS" -q \
        XADD stream:__rand_int__ '*' f "$VALUE" > /dev/null
}

run() {
    local port=$1 workload=$2
    case "$workload" in
        set) bench "$port" SET key:__rand_int__ "$VALUE" ;;
        xadd) bench "$port" XADD stream:__rand_int__ '*' f "$VALUE" ;;
        xreadgroup) bench "$port" XREADGROUP GROUP g c COUNT 1 STREAMS stream:__rand_int__ '>' ;;
        xrange) bench "$port" XRANGE stream:__rand_int__ - + COUNT 10 ;;
    esac
}

declare -A BEST
for round in $(seq 1 "$ROUNDS"); do
    for system in petrel redis; do
        port=$PROXY_PORT
        [ "$system" = redis ] && port=$REDIS_PORT
        fill "$port"
        for w in set xadd xreadgroup xrange; do
            fig="$(run "$port" "$w")"
            echo "round $round $system $w: $fig" >&2
            prev="${BEST[$system,$w]:-0 0 0 0 0}"
            if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' \
                "${fig%% *}" "${prev%% *}"; then
                BEST[$system,$w]="$fig"
            fi
        done
    done
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'); $REQUESTS requests per run, -c 50, best of $ROUNDS rounds"
echo
echo "| workload | Petrel ops/s | p50 / p99 / max ms | redis-server ops/s | p50 / p99 / max ms | ratio | errors (Petrel, Redis) |"
echo "|---|---|---|---|---|---|---|"
for w in set xadd xreadgroup xrange; do
    read -r p_ops p_50 p_99 p_max p_err <<< "${BEST[petrel,$w]}"
    read -r r_ops r_50 r_99 r_max r_err <<< "${BEST[redis,$w]}"
    ratio="$(python3 -c 'import sys; r=float(sys.argv[2]); print("%.2fx" % (float(sys.argv[1]) / r) if r else "-")' "$p_ops" "$r_ops")"
    echo "| $w | $p_ops | $p_50 / $p_99 / $p_max | $r_ops | $r_50 / $r_99 / $r_max | $ratio | $p_err, $r_err |"
done
