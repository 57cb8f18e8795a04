#!/usr/bin/env bash
# Checks petrel-bench's figures against redis-benchmark on the same plain
# redis-server (no persistence), one shape at a time. Each shape runs both
# tools in turn five times (interleaved, so both see the same machine) and
# takes the median of each figure:
#
#   - GET and SET, 1 client, pipeline 1: the round trip is the bottleneck;
#   - MSET (10 keys), 50 clients, pipeline 1: the server is;
#   - GET and SET, 50 clients, pipeline 16: the server, or nearly so;
#   - GET and SET, 50 clients, pipeline 1: on a small machine
#     redis-benchmark's own single-threaded client is.
#
# With two CPUs or more, redis-server runs on CPU 0 and each tool on CPU 1:
# left to the scheduler, the processes landed differently from run to run
# and one client's round trip varied by a fifth between identical runs.
# Both CPUs also run a SCHED_IDLE spinner, which yields to any other task
# at once but keeps the CPU out of idle. On a virtual machine an idle CPU
# exits to the hypervisor, and waking it took tens of microseconds, more
# or less with how long it had slept: one client's round trip measured each
# tool's pattern of sleeping rather than its clock (a minimal client that
# spun 20 us after each write made 27k round trips/s instead of 16k, and
# redis-benchmark's extra system calls made it faster than petrel-bench).
#
# For each shape it prints both tools' ops/s, p50 and p99, the ratios
# petrel-bench / redis-benchmark, and how busy the tool and redis-server
# were (CPU time over wall time, 100% = one core). "Agrees" holds when
# every figure is within 10%, or for a latency within redis-benchmark's
# resolution: its histogram starts at 10 us, so it reports latencies in
# 8 us steps (0.055, 0.063, 0.071 ms...), and 0.055 means 48 to 55 us.
# The last column says which side bounded the shape: where a tool uses 95%
# of its core or more, that tool is part of what it measured, and a tool
# that does less work per request measures more. Usage:
# bench/verify-petrel-bench.sh [N] (requests per run, default 200000; a
# quarter of it with one client, 25 times it at pipeline 16, where a short
# run's p99 is a few milliseconds of the machine's hiccups).
# Port 19999 on 127.0.0.1 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-server redis-tools python3
cargo build --release -p petrel-bench --bins >&2
BIN="$CARGO_TARGET_DIR/release"
N="${1:-200000}"
PORT=19999
WORK="$(mktemp -d /tmp/petrel-verify.XXXXXX)"
REDIS_PID=""
SPINNERS=()

cleanup() {
    for p in "${SPINNERS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Pinning: redis-server on CPU 0, the tools on CPU 1 (none on one CPU).
SERVER_CPU=()
TOOL_CPU=()
if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    TOOL_CPU=(taskset -c 1)
    for cpu in 0 1; do
        taskset -c "$cpu" chrt --idle 0 sh -c 'while :; do :; done' &
        SPINNERS+=($!)
    done
fi
"${SERVER_CPU[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 100); do
    redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
done

# Requests for a run of CLIENTS clients at PIPELINE depth: fewer for one
# client (slow), more for pipelines (fast; a short run's p99 is noise).
count() {
    if [ "$1" = 1 ]; then echo $((N / 4)); elif [ "$2" -gt 1 ]; then echo $((N * 25)); else echo "$N"; fi
}

# rb TEST CLIENTS PIPELINE -> "ops p50 p99" from redis-benchmark
rb() {
    timeout 300 "${TOOL_CPU[@]}" redis-benchmark -p "$PORT" -t "$1" -n "$(count "$2" "$3")" -c "$2" -P "$3" -r 100000 -d 64 --csv 2>/dev/null |
        awk -F'"' -v t="${1^^}" 'index($2, t) == 1 {print $4, $10, $14}'
}
# pb TEST CLIENTS PIPELINE -> "ops p50 p99" from petrel-bench
pb() {
    "${TOOL_CPU[@]}" "$BIN/petrel-bench" -p "$PORT" -w "$1" --requests "$(count "$2" "$3")" --clients "$2" --pipeline "$3" \
        --keyspace 100000 -d 64 --threads 1 --latency first-reply --json -q 2>/dev/null |
        python3 -c 'import json,sys
k = json.load(sys.stdin)["endpoints"][0]["runs"][0]["kinds"][0]
print(round(k["ops_per_sec"]), k["p50_ms"], k["p99_ms"])'
}
# server_ticks -> redis-server's user+system CPU time so far, in clock ticks
server_ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
TICKS=$(getconf CLK_TCK)
# busy CMD... -> CMD's output line, then its own CPU use and redis-server's
# during it (% of one core)
busy() {
    local t0 w0 out tool
    t0=$(server_ticks)
    w0=$(date +%s.%N)
    tool=$({ TIMEFORMAT='%U %S'; time "$@" >"$WORK/out"; } 2>&1 | tail -1)
    out=$(cat "$WORK/out")
    python3 -c "
wall = $(date +%s.%N) - $w0
u, s = '$tool'.split()
print('$out', round(100 * (float(u) + float(s)) / wall), round(100 * ($(server_ticks) - $t0) / $TICKS / wall))"
}
# medians FILE -> the median of each column of FILE's lines
medians() {
    python3 -c 'import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
print(*(statistics.median_low(float(r[i]) for r in rows) for i in range(len(rows[0]))))' "$1" |
        sed -E 's/\.0( |$)/\1/g'
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
# agrees RB_OPS RB_P50 RB_P99 PB_OPS PB_P50 PB_P99 -> "yes", or the figures
# that differ by more than 10% (latencies: and by more than 8 us)
agrees() {
    python3 -c "
import sys
r, p = [float(x) for x in sys.argv[1:4]], [float(x) for x in sys.argv[4:7]]
off = [name for name, a, b, slack in zip(('ops/s', 'p50', 'p99'), r, p, (0, 0.008, 0.008))
       if abs(b - a) > max(0.10 * a, slack)]
print('yes' if not off else 'no (' + ', '.join(off) + ')')" "$@"
}
# bound TOOL_CPU SERVER_CPU -> what limited a run
bound() {
    if [ "$1" -ge 95 ]; then echo tool; elif [ "$2" -ge 90 ]; then echo server; else echo "round trip"; fi
}

echo "| shape | redis-benchmark ops/s, p50, p99 (ms); its CPU, server CPU | petrel-bench ops/s, p50, p99 (ms); its CPU, server CPU | ops ratio | p50 ratio | p99 ratio | agrees | bounded by (redis-benchmark / petrel-bench) |"
echo "|---|---|---|---|---|---|---|---|"
for shape in "get 1 1" "set 1 1" "mset 50 1" "get 50 16" "set 50 16" "get 50 1" "set 50 1"; do
    read -r t c p <<<"$shape"
    : >"$WORK/rb"
    : >"$WORK/pb"
    for _ in 1 2 3 4 5; do
        busy rb "$t" "$c" "$p" >>"$WORK/rb"
        busy pb "$t" "$c" "$p" >>"$WORK/pb"
    done
    read -r ro r50 r99 rtool rsrv < <(medians "$WORK/rb")
    read -r po p50 p99 ptool psrv < <(medians "$WORK/pb")
    echo "| ${t^^}, $c clients, pipeline $p | $ro, $r50, $r99; $rtool%, $rsrv% | $po, $p50, $p99; $ptool%, $psrv% | $(ratio "$po" "$ro") | $(ratio "$p50" "$r50") | $(ratio "$p99" "$r99") | $(agrees "$ro" "$r50" "$r99" "$po" "$p50" "$p99") | $(bound "$rtool" "$rsrv") / $(bound "$ptool" "$psrv") |"
done
