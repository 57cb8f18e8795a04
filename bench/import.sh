#!/usr/bin/env bash
# Measures `petrel import` (issue 19): a local redis-server filled with
# KEYS mixed keys (a sixth each strings, lists, hashes, sets, sorted sets
# and streams; every tenth with a TTL) is copied into a onebox of 3
# servers, 3 replicas, 8 partitions (every write replicated and fsynced).
# Prints the import's own summary (rate, counts compared), the wall time,
# then checks SAMPLE keys spread over the keyspace: the same type and the
# same contents on both sides (members of hashes and sets compared sorted).
#
# Usage: bench/import.sh [KEYS]   (default 1000000)
# Environment: PARALLEL=N (default 32) keys in flight; SAMPLE=N (default
# 1000); PETREL_BENCH_DATA=DIR (default /var/tmp) for the data;
# PETREL_BENCH_BUILD=0 to use the binaries as built. Ports 18492, 18484,
# 18684 and 18784-18786 on 127.0.0.1 must be free. Copy the result to
# bench/RESULTS-notes.md with the machine line.
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
KEYS="${1:-1000000}"
PARALLEL="${PARALLEL:-32}"
SAMPLE="${SAMPLE:-1000}"
REDIS_PORT=18492 PROXY_PORT=18484 META_PORT=18684 SERVER_PORT=18784

# shellcheck source=bench/lib.sh
source bench/lib.sh
for port in $REDIS_PORT $PROXY_PORT $META_PORT $SERVER_PORT \
    $((SERVER_PORT + 1)) $((SERVER_PORT + 2)); do
    if port_in_use "$port"; then echo "import: port $port is in use" >&2; exit 1; fi
done
mkdir -p "${PETREL_BENCH_DATA:-/var/tmp}"
WORK="$(mktemp -d "${PETREL_BENCH_DATA:-/var/tmp}/petrel-import.XXXXXX")"

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$WORK" --daemonize no > "$WORK/redis.log" 2>&1 &
PIDS+=("$!")
start_onebox "$WORK/onebox.log" --dir "$WORK/onebox" --port "$PROXY_PORT" --meta-port "$META_PORT" \
    --server-port "$SERVER_PORT" --partitions 8
wait_serving "$REDIS_PORT" redis-server
wait_serving "$PROXY_PORT" "the onebox"

echo "filling redis-server with $KEYS keys..." >&2
python3 - "$KEYS" <<'EOF' | redis-cli -p "$REDIS_PORT" --pipe >&2
import sys
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
for i in range(int(sys.argv[1])):
    key = "imp:%d" % i
    kind = i % 6
    if kind == 0:
        cmd("SET", key, "value-%d-%s" % (i, "x" * (i % 50)))
    elif kind == 1:
        cmd("RPUSH", key, i, "b", "c", "d")
    elif kind == 2:
        cmd("HSET", key, "f1", i, "f2", "v%d" % i, "f3", "third")
    elif kind == 3:
        cmd("SADD", key, i, i + 1, "m%d" % i)
    elif kind == 4:
        cmd("ZADD", key, i, "a", i + 0.5, "b", -i, "c")
    else:
        cmd("XADD", key, "*", "f", i, "g", "h")
    if i % 10 == 0:
        cmd("EXPIRE", key, 86400)
EOF
echo "source holds $(redis-cli -p "$REDIS_PORT" DBSIZE) keys" >&2

start=$(date +%s.%N)
"$BIN/petrel" import --from "redis://127.0.0.1:$REDIS_PORT" \
    --to "redis://127.0.0.1:$PROXY_PORT" --parallel "$PARALLEL" --batch 1000 \
    --state "$WORK/import.json" 2>&1 | tr '\r' '\n' | grep -v '^\s*$' | tail -5
end=$(date +%s.%N)
python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print('wall time %.1f s, %.0f keys/s' % (s, int(sys.argv[3])/s))" \
    "$start" "$end" "$KEYS"

# Same type, same contents, for SAMPLE keys spread over the keyspace.
contents() { # PORT KEY
    local port=$1 key=$2 type
    type=$(redis-cli -p "$port" TYPE "$key")
    echo "$type"
    case "$type" in
        string) redis-cli -p "$port" GET "$key" ;;
        list) redis-cli -p "$port" LRANGE "$key" 0 -1 ;;
        hash) redis-cli -p "$port" HGETALL "$key" | paste - - | sort ;;
        set) redis-cli -p "$port" SMEMBERS "$key" | sort ;;
        zset) redis-cli -p "$port" ZRANGE "$key" 0 -1 WITHSCORES ;;
        stream) redis-cli -p "$port" XRANGE "$key" - + ;;
    esac
}
checked=0 differ=0
step=$(( KEYS / SAMPLE > 0 ? KEYS / SAMPLE : 1 ))
for ((i = 0; i < KEYS; i += step)); do
    key="imp:$i"
    if [ "$(contents "$REDIS_PORT" "$key")" != "$(contents "$PROXY_PORT" "$key")" ]; then
        echo "differs: $key" >&2
        differ=$((differ + 1))
    fi
    checked=$((checked + 1))
done
echo "sampled $checked keys: $differ differ"
echo "target holds $(redis-cli -p "$PROXY_PORT" DBSIZE) keys, source $(redis-cli -p "$REDIS_PORT" DBSIZE)"
[ "$differ" = 0 ]
