#!/usr/bin/env bash
# Checks petrel-bench's figures against redis-benchmark on the same plain
# redis-server (no persistence), one shape at a time, 3 runs each (medians):
#
#   - SET and GET, 50 clients, pipeline 16: the server is the bottleneck;
#   - SET and GET, 1 client, pipeline 1: the round trip is;
#   - SET and GET, 50 clients, pipeline 1, where redis-benchmark's own
#     single-threaded client is the bottleneck on a small machine. To show
#     it, the same load is also run as two redis-benchmark processes of 25
#     clients each, summed: their total is what one of them cannot generate.
#
# For each shape it prints both tools' ops/s, p50 and p99, the ratios
# petrel-bench / redis-benchmark, and how busy redis-server was during each
# tool's median run (its CPU time over wall time, 100% = one core): where a
# tool cannot keep the server busy, the tool is what it measured. Usage: bench/verify-petrel-bench.sh [N]
# (requests per run, default 200000; a quarter of it with one client,
# five times it at pipeline 16).
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

cleanup() {
    if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 100); do
    redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
done

# Requests for a run of CLIENTS clients at PIPELINE depth: fewer for one
# client (slow), more for pipelines (fast; short runs are mostly ramp-up).
count() {
    if [ "$1" = 1 ]; then echo $((N / 4)); elif [ "$2" -gt 1 ]; then echo $((N * 5)); else echo "$N"; fi
}

# rb TEST CLIENTS PIPELINE -> "ops p50 p99" from redis-benchmark
rb() {
    timeout 300 redis-benchmark -p "$PORT" -t "$1" -n "$(count "$2" "$3")" -c "$2" -P "$3" -r 100000 -d 64 --csv 2>/dev/null |
        awk -F'"' -v t="${1^^}" '$2 == t {print $4, $10, $14}'
}
# rb_pair TEST PIPELINE -> "ops p50 p99": two processes of 25 clients, ops
# summed, latencies averaged.
rb_pair() {
    timeout 300 redis-benchmark -p "$PORT" -t "$1" -n $((N / 2)) -c 25 -P "$2" -r 100000 -d 64 --csv >"$WORK/a" 2>/dev/null &
    local a=$!
    timeout 300 redis-benchmark -p "$PORT" -t "$1" -n $((N / 2)) -c 25 -P "$2" -r 100000 -d 64 --csv >"$WORK/b" 2>/dev/null
    wait "$a"
    cat "$WORK/a" "$WORK/b" | awk -F'"' -v t="${1^^}" '$2 == t {ops += $4; p50 += $10; p99 += $14; n++}
        END {printf "%d %.3f %.3f\n", ops, p50 / n, p99 / n}'
}
# pb TEST CLIENTS PIPELINE -> "ops p50 p99" from petrel-bench
pb() {
    "$BIN/petrel-bench" -p "$PORT" -w "$1" --requests "$(count "$2" "$3")" --clients "$2" --pipeline "$3" \
        --keyspace 100000 -d 64 --threads 1 --latency first-reply --json -q 2>/dev/null |
        python3 -c 'import json,sys
k = json.load(sys.stdin)["endpoints"][0]["runs"][0]["kinds"][0]
print(round(k["ops_per_sec"]), k["p50_ms"], k["p99_ms"])'
}
# server_ticks -> redis-server's user+system CPU time so far, in clock ticks
server_ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
TICKS=$(getconf CLK_TCK)
# busy CMD... -> CMD's output line plus redis-server's CPU use (%) during it
busy() {
    local t0 w0 out
    t0=$(server_ticks)
    w0=$(date +%s.%N)
    out=$("$@")
    python3 -c "print('$out', round(100 * ($(server_ticks) - $t0) / $TICKS / ($(date +%s.%N) - $w0)))"
}
# median3 CMD... -> the run with the median ops/s of three
median3() {
    { busy "$@"; busy "$@"; busy "$@"; } | sort -n -k1,1 | sed -n 2p
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

echo "| shape | redis-benchmark ops/s, p50, p99 (ms); server CPU | petrel-bench ops/s, p50, p99 (ms); server CPU | ops ratio | p50 ratio | p99 ratio |"
echo "|---|---|---|---|---|---|"
for shape in "set 50 16" "get 50 16" "set 1 1" "get 1 1" "set 50 1" "get 50 1"; do
    read -r t c p <<<"$shape"
    read -r ro r50 r99 rcpu < <(median3 rb "$t" "$c" "$p")
    read -r po p50 p99 pcpu < <(median3 pb "$t" "$c" "$p")
    echo "| ${t^^}, $c clients, pipeline $p | $ro, $r50, $r99; $rcpu% | $po, $p50, $p99; $pcpu% | $(ratio "$po" "$ro") | $(ratio "$p50" "$r50") | $(ratio "$p99" "$r99") |"
    if [ "$c" = 50 ] && [ "$p" = 1 ]; then
        read -r ro r50 r99 rcpu < <(median3 rb_pair "$t" "$p")
        echo "| ${t^^}, 50 clients, pipeline 1, as 2 redis-benchmark x 25 clients | $ro, $r50, $r99; $rcpu% | $po, $p50, $p99; $pcpu% | $(ratio "$po" "$ro") | $(ratio "$p50" "$r50") | $(ratio "$p99" "$r99") |"
    fi
done
