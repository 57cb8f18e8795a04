#!/usr/bin/env bash
# Measures scripts (issue 16) beside their plain counterparts, on Petrel and
# redis-server in one run, with petrel-bench (-c 50, pipeline 1):
#
#   incr         INCR of one key (the baseline)
#   evalsha-1p   EVALSHA of a one-key script doing one INCR (goal: at most
#                1.5x INCR's latency on Petrel)
#   multi-3p     MULTI / INCR a / INCR b / INCR c / EXEC, keys in 3 partitions
#   script-3p    one EVAL doing the same three INCRs
#
# then, on Petrel only, SCRIPT LOADs 10,000 distinct scripts and runs
# evalsha-1p again: the script cache's hit path with a full cache.
#
# Usage: bench/scripting.sh [SECONDS]   (default 8 per workload)
# Environment: PETREL_SCRIPTING_DATA=DIR (default /var/tmp) for the onebox's
# data; ports 18479, 18651 and 18751-18753 on 127.0.0.1 must be free.
# Prints the figures; copy them to bench/RESULTS-notes.md with the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-server redis-tools
cargo build --release --workspace --bins >&2
BIN="$CARGO_TARGET_DIR/release"
SECS="${1:-8}"
REDIS_PORT=18479 PROXY_PORT=18451 META_PORT=18651 SERVER_PORT=18751
# shellcheck source=bench/lib.sh
source bench/lib.sh
WORK="$(mktemp -d "${PETREL_SCRIPTING_DATA:-/var/tmp}/petrel-scripting.XXXXXX")"

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$WORK" --daemonize no > "$WORK/redis.log" 2>&1 &
PIDS+=($!)
start_onebox "$WORK/onebox.log" --dir "$WORK/onebox" --port "$PROXY_PORT" --meta-port "$META_PORT" \
    --server-port "$SERVER_PORT" --servers 3 --replicas 3 --partitions 8
wait_serving "$REDIS_PORT"
wait_serving "$PROXY_PORT"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "petrel: onebox, 3 servers, 3 replicas, 8 partitions, durability sync; redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'), no persistence"
"$BIN/petrel-bench" --compare "petrel=127.0.0.1:$PROXY_PORT,redis=127.0.0.1:$REDIS_PORT" \
    --workload incr,evalsha-1p,multi-3p,script-3p --clients 50 --pipeline 1 \
    --duration "$SECS" --warmup 2 --partitions 8

echo
echo "petrel, after SCRIPT LOAD of 10,000 distinct scripts:"
for i in $(seq 1 10000); do
    printf 'SCRIPT LOAD "return %d"\n' "$i"
done | redis-cli -p "$PROXY_PORT" > /dev/null
"$BIN/petrel-bench" --port "$PROXY_PORT" --workload incr,evalsha-1p --clients 50 \
    --pipeline 1 --duration "$SECS" --warmup 2 --partitions 8
