#!/usr/bin/env bash
# Measures what replication costs and how long a failover takes, on this
# machine, with redis-benchmark against real oneboxes:
#
#   1. SET throughput and latency: 1 replica (sync), 3 replicas (sync),
#      3 replicas (async). redis-benchmark -t set -c 50 -r 100000 -d 64.
#   2. Failover: 3 replicas, a client setting one key in a loop through the
#      proxy, kill -9 of that key's primary; the time from the kill until
#      the next SET of that key succeeds. Repeated ROUNDS times.
#
# Usage: bench/replication.sh [REQUESTS] [ROUNDS]   (defaults 100000, 5)
# Prints a Markdown table; nothing is asserted. Ports 17379.. and
# 37601.. on 127.0.0.1 must be free. Builds release binaries if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-tools
cargo build --release --workspace --bins >&2
BIN="$CARGO_TARGET_DIR/release"
REQUESTS="${1:-100000}"
ROUNDS="${2:-5}"
WORK="$(mktemp -d /tmp/petrel-bench.XXXXXX)"
ONEBOX_PID=""

cleanup() {
    pkill -f "petrel-server --listen 127.0.0.1:378" 2>/dev/null || true
    if [ -n "$ONEBOX_PID" ]; then kill "$ONEBOX_PID" 2>/dev/null || true; wait "$ONEBOX_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_onebox NAME PORT META_PORT SERVER_PORT REPLICAS DURABILITY
start_onebox() {
    local name=$1 port=$2 meta=$3 server=$4 replicas=$5 durability=$6
    "$BIN/petrel" onebox --dir "$WORK/$name" --port "$port" --meta-port "$meta" \
        --server-port "$server" --servers 3 --replicas "$replicas" \
        --durability "$durability" --bin-dir "$BIN" > "$WORK/$name.out" 2>&1 &
    ONEBOX_PID=$!
    for _ in $(seq 1 600); do
        if grep -q '^ready' "$WORK/$name.out" 2>/dev/null; then return 0; fi
        if ! kill -0 "$ONEBOX_PID" 2>/dev/null; then cat "$WORK/$name.out" >&2; return 1; fi
        sleep 0.1
    done
    echo "onebox $name never became ready" >&2
    return 1
}

stop_onebox() {
    kill "$ONEBOX_PID" 2>/dev/null || true
    wait "$ONEBOX_PID" 2>/dev/null || true
    ONEBOX_PID=""
}

# set_figures PORT -> "rps p50 p99"
set_figures() {
    redis-benchmark -p "$1" -t set -n "$REQUESTS" -c 50 -r 100000 -d 64 --csv 2>/dev/null |
        awk -F'"' '/^"SET"/ {printf "%d %s %s\n", $4, $10, $14}'
}

echo "| configuration | SET/s | p50 ms | p99 ms |"
echo "|---|---|---|---|"
i=0
for cfg in "1 sync" "3 sync" "3 async"; do
    set -- $cfg
    start_onebox "set$i" $((17379 + i)) $((37601 + i)) $((37701 + 10 * i)) "$1" "$2"
    read -r rps p50 p99 < <(set_figures $((17379 + i)))
    echo "| $1 replica(s), durability $2 | $rps | $p50 | $p99 |"
    stop_onebox
    i=$((i + 1))
done

echo
echo "| failover round | partition writable again after |"
echo "|---|---|"
port=17389
start_onebox failover "$port" 37611 37801 3 sync
for round in $(seq 1 "$ROUNDS"); do
    key="failover-key-$round"
    primary=$("$BIN/petrel" --meta 127.0.0.1:37611 --json locate default "$key" |
        sed -n 's/.*"primary": *"\([^"]*\)".*/\1/p')
    pid=$(pgrep -f "petrel-server --listen $primary " || true)
    if [ -z "$pid" ]; then echo "no server process for $primary" >&2; exit 1; fi
    redis-cli -p "$port" set "$key" 0 > /dev/null
    killed_at=$(date +%s%N)
    kill -9 "$pid"
    back_at=""
    for n in $(seq 1 2000); do
        if [ "$(redis-cli -p "$port" set "$key" "$n" 2>/dev/null)" = "OK" ]; then
            back_at=$(date +%s%N)
            break
        fi
    done
    if [ -z "$back_at" ]; then echo "| $round | never (gave up) |"; continue; fi
    echo "| $round | $(( (back_at - killed_at) / 1000000 )) ms |"
    # Bring the server back and let it rejoin before the next round.
    datadir="$WORK/failover/server-$(( ${primary##*:} - 37801 + 1 ))"
    "$BIN/petrel-server" --listen "$primary" --meta 127.0.0.1:37611 --data-dir "$datadir" \
        --durability sync >> "$WORK/failover/restarted.log" 2>&1 &
    for _ in $(seq 1 120); do
        if "$BIN/petrel" --meta 127.0.0.1:37611 verify default --attempts 4 --full > /dev/null 2>&1; then break; fi
        sleep 1
    done
done
stop_onebox
pkill -f "petrel-server --listen 127.0.0.1:378" 2>/dev/null || true
echo
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr); $(date -u +%F)"
