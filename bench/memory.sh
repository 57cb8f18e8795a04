#!/usr/bin/env bash
# Measures the resident memory (RSS) of a Petrel proxy and its servers:
#
#   1. at rest, right after a onebox (3 servers, 3 replicas, sync) starts;
#   2. after 100,000 keys of 64 bytes are written;
#   3. with 1,000 idle client connections open on the proxy;
#   4. under load: petrel-bench, 50 clients, pipeline 16, YCSB A for 15 s
#      (the peak of samples taken every 0.2 s);
#   5. with slow clients: 20 connections each pipelining 200 GETs of a
#      1 MiB value without reading a byte of the replies, against a second
#      proxy whose `client_output_buffer_limit` is 64 MiB: the proxy's peak
#      RSS until it has closed them all at the limit (or 60 s), and how
#      many it closed.
#
# Usage: bench/memory.sh            prints a Markdown table on stdout
# Ports 19379, 19380 (proxies), 39601 (meta), 39701.. (servers) on
# 127.0.0.1 must be free. Nothing is asserted; bench/compare.sh includes
# this table in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-tools python3
cargo build --release --workspace --bins >&2
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d /tmp/petrel-memory.XXXXXX)"
PORT=19379
SLOW_PORT=19380
META=39601
ONEBOX_PID=""
SLOW_PROXY_PID=""
ulimit -n 8192

cleanup() {
    for pid in "$SLOW_PROXY_PID" "$ONEBOX_PID"; do
        if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/petrel" onebox --dir "$WORK/onebox" --port "$PORT" --meta-port "$META" \
    --server-port 39701 --servers 3 --replicas 3 --durability sync \
    --bin-dir "$BIN" >"$WORK/onebox.out" 2>&1 &
ONEBOX_PID=$!
for _ in $(seq 1 600); do
    grep -q '^ready' "$WORK/onebox.out" 2>/dev/null && break
    kill -0 "$ONEBOX_PID" 2>/dev/null || { cat "$WORK/onebox.out" >&2; exit 1; }
    sleep 0.1
done
for _ in $(seq 1 100); do
    redis-cli -p "$PORT" set memory:warm 1 2>/dev/null | grep -q OK && break
    sleep 0.2
done

proxy_pid=$(pgrep -f "petrel-proxy --listen 127.0.0.1:$PORT")
server_pids=$(pgrep -f "petrel-server --listen 127.0.0.1:397" | tr '\n' ' ')

rss_mib() { # PID... -> summed VmRSS in MiB
    local kb=0 v
    for p in "$@"; do
        v=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        kb=$((kb + ${v:-0}))
    done
    echo $((kb / 1024))
}
# A row: what, proxy MiB, servers MiB (sum of three).
row() { echo "| $1 | $2 | $3 |"; }

echo "| state | proxy RSS (MiB) | 3 servers RSS (MiB, sum) |"
echo "|---|---|---|"
# shellcheck disable=SC2086
row "at rest" "$(rss_mib "$proxy_pid")" "$(rss_mib $server_pids)"

redis-benchmark -p "$PORT" -t set -n 100000 -c 50 -r 100000 -d 64 -q >/dev/null 2>&1
# shellcheck disable=SC2086
row "after 100,000 SETs of 64 B" "$(rss_mib "$proxy_pid")" "$(rss_mib $server_pids)"

# 1,000 idle connections: each sends one PING (so the proxy has served it)
# and then sits; they are held until the python process is killed.
python3 - "$PORT" 1000 >"$WORK/idle.out" 2>&1 <<'EOF' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PING\r\n")
    conns.append(s)
for s in conns:
    s.recv(16)
print("idle", len(conns), flush=True)
time.sleep(3600)
EOF
IDLE_PID=$!
for _ in $(seq 1 300); do grep -q '^idle' "$WORK/idle.out" && break; sleep 0.1; done
sleep 1
# shellcheck disable=SC2086
row "1,000 idle client connections" "$(rss_mib "$proxy_pid")" "$(rss_mib $server_pids)"
kill "$IDLE_PID" 2>/dev/null || true
wait "$IDLE_PID" 2>/dev/null || true

"$BIN/petrel-bench" -p "$PORT" -w ycsb-a --clients 50 --pipeline 16 --duration 15 -q >/dev/null 2>&1 &
LOAD_PID=$!
peak_p=0
peak_s=0
while kill -0 "$LOAD_PID" 2>/dev/null; do
    p=$(rss_mib "$proxy_pid")
    # shellcheck disable=SC2086
    s=$(rss_mib $server_pids)
    [ "$p" -gt "$peak_p" ] && peak_p=$p
    [ "$s" -gt "$peak_s" ] && peak_s=$s
    sleep 0.2
done
wait "$LOAD_PID" 2>/dev/null || true
row "under load (YCSB A, 50 clients, pipeline 16; peak)" "$peak_p" "$peak_s"

# Slow clients, against a second proxy with a 64 MiB output buffer limit.
cat >"$WORK/slow-proxy.toml" <<EOF
listen = "127.0.0.1:$SLOW_PORT"
meta = ["127.0.0.1:$META"]
client_output_buffer_limit = 67108864
EOF
"$BIN/petrel-proxy" --config "$WORK/slow-proxy.toml" >"$WORK/slow-proxy.log" 2>&1 &
SLOW_PROXY_PID=$!
for _ in $(seq 1 100); do
    redis-cli -p "$SLOW_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.2
done
head -c $((1024 * 1024)) /dev/zero | tr '\0' 'v' | redis-cli -p "$SLOW_PORT" -x set memory:big >&2
echo "memory:big is $(redis-cli -p "$SLOW_PORT" strlen memory:big) bytes" >&2
base=$(rss_mib "$SLOW_PROXY_PID")
python3 - "$SLOW_PORT" 20 200 >"$WORK/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
port, n, depth = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
req = b"*2\r\n$3\r\nGET\r\n$10\r\nmemory:big\r\n" * depth
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(req)
    conns.append(s)
print("sent", flush=True)
time.sleep(3600)
EOF
SLOW_PID=$!
# Until every slow connection is closed at the limit, or 60 s.
peak=0
closed=0
for _ in $(seq 1 300); do
    p=$(rss_mib "$SLOW_PROXY_PID")
    [ "$p" -gt "$peak" ] && peak=$p
    closed=$(grep -c "output buffer limit" "$WORK/slow-proxy.log" || true)
    [ "$closed" -ge 20 ] && break
    sleep 0.2
done
cat "$WORK/slow.out" >&2
kill "$SLOW_PID" 2>/dev/null || true
wait "$SLOW_PID" 2>/dev/null || true
sleep 1
after=$(rss_mib "$SLOW_PROXY_PID")
row "second proxy before slow clients" "$base" "-"
row "20 slow clients x 200 GETs of 1 MiB, limit 64 MiB (peak; $closed of 20 closed at the limit)" "$peak" "-"
row "second proxy after they left" "$after" "-"
