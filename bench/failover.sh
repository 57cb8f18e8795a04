#!/usr/bin/env bash
# Measures how long a partition is unwritable when its primary is killed
# (kill -9) or paused (SIGSTOP), with the defaults, on a onebox of 3
# servers, 3 replicas and 8 partitions:
#
#   each round: WRITERS clients each SET their own key in a loop through the
#   proxy (one connection each, one SET at a time, the next one as soon as
#   the last answered, error or not); the primary of writer 0's key is
#   killed (or stopped); the round's figure is the time from the signal to
#   the first SET of that key acknowledged afterwards. Each key's final
#   value is then checked against what its writer was told: it must be the
#   last acknowledged value or a later one the writer sent (a write answered
#   with an error may or may not have happened), never an older one.
#   The killed server is restarted (the stopped one continued) and the
#   cluster is healthy again before the next round.
#
# Usage: bench/failover.sh [ROUNDS] [MODES]  (defaults 5, "kill stop")
# Extra `petrel onebox` flags may be given in ONEBOX_FLAGS (e.g.
# "--lease-ms 2000 --grace-ms 3000" for older defaults). Prints a Markdown
# table; exits 1 if any acknowledged write was lost. Ports 17579, 37651 and
# 37851.. on 127.0.0.1 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-tools
cargo build --release --workspace --bins >&2
BIN="$CARGO_TARGET_DIR/release"
source bench/lib.sh
ROUNDS="${1:-5}"
MODES="${2:-kill stop}"
WRITERS="${WRITERS:-4}"
PORT=17579
META=127.0.0.1:37651
WORK="$(mktemp -d /tmp/petrel-failover.XXXXXX)"
for p in "$PORT" 37651 37851 37852 37853; do
    if port_in_use "$p"; then echo "port $p is in use" >&2; exit 1; fi
done

# writer KEY OUT STOPFILE: SETs KEY to 1, 2, 3... over one connection to
# the proxy until STOPFILE exists; one line per SET in OUT:
# "sent_at answered_at value reply" (seconds, microsecond precision).
writer() {
    local key=$1 out=$2 stop=$3 n=0 t0 reply
    exec 3<>"/dev/tcp/127.0.0.1/$PORT"
    while [ ! -e "$stop" ]; do
        n=$((n + 1))
        t0=$EPOCHREALTIME
        printf 'SET %s %d\r\n' "$key" "$n" >&3
        if ! IFS= read -r -u 3 reply; then
            echo "$t0 $EPOCHREALTIME $n connection-closed" >> "$out"
            return 0
        fi
        echo "$t0 $EPOCHREALTIME $n ${reply%$'\r'}" >> "$out"
    done
    exec 3>&-
}

# usecs "1.234567" -> 1234567
usecs() { local s=${1/./}; echo $((10#$s)); }

wait_healthy() {
    for _ in $(seq 1 120); do
        if "$BIN/petrel" --meta "$META" verify default --attempts 4 --full > /dev/null 2>&1; then
            return 0
        fi
        sleep 1
    done
    echo "cluster not healthy after 2 minutes" >&2
    return 1
}

# primary_of KEY
primary_of() {
    "$BIN/petrel" --meta "$META" --json locate default "$1" |
        sed -n 's/.*"primary": *"\([^"]*\)".*/\1/p'
}

# shellcheck disable=SC2086
start_onebox "$WORK/onebox.out" --dir "$WORK/data" --port "$PORT" --meta-port 37651 \
    --server-port 37851 --servers 3 --replicas 3 ${ONEBOX_FLAGS:-}
wait_serving "$PORT" "the onebox"
wait_healthy

lost=0
echo "| round | fault | primary | writes back after | SETs acked / failed (all writers) | lost |"
echo "|---|---|---|---|---|---|"
for mode in $MODES; do
    for round in $(seq 1 "$ROUNDS"); do
        dir="$WORK/$mode-$round"
        mkdir -p "$dir"
        wpids=()
        for w in $(seq 0 $((WRITERS - 1))); do
            writer "fo-$mode-$round-$w" "$dir/w$w" "$dir/stop" &
            wpids+=($!)
        done
        sleep 2
        # Located under load, just before the fault (meta may have moved
        # primaries back since the last round).
        primary=$(primary_of "fo-$mode-$round-0")
        pid=$(pgrep -f "petrel-server --listen $primary " || true)
        if [ -z "$pid" ]; then echo "no server process for $primary" >&2; exit 1; fi
        cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline")
        fault_at=$EPOCHREALTIME
        if [ "$mode" = kill ]; then kill -9 "$pid"; else kill -STOP "$pid"; fi
        echo "$mode round $round: fault at $(date -u -d "@$fault_at" +%T.%6N)" >&2
        # Until writer 0 has a SET sent after the fault acknowledged (30 s at most).
        back=""
        for _ in $(seq 1 300); do
            sleep 0.1
            back=$(awk -v f="$fault_at" '$4 == "+OK" && $1 > f { print $2; exit }' "$dir/w0")
            if [ -n "$back" ]; then break; fi
        done
        sleep 1
        touch "$dir/stop"
        wait "${wpids[@]}" 2>/dev/null || true
        if [ "$mode" = stop ]; then kill -CONT "$pid"; fi
        acked=0 failed=0 bad=""
        for w in $(seq 0 $((WRITERS - 1))); do
            key="fo-$mode-$round-$w"
            a=$(grep -c ' +OK$' "$dir/w$w" || true)
            f=$(grep -vc ' +OK$' "$dir/w$w" || true)
            acked=$((acked + a)) failed=$((failed + f))
            last_ok=$(awk '$4 == "+OK" { v = $3 } END { print v + 0 }' "$dir/w$w")
            last_sent=$(awk '{ v = $3 } END { print v + 0 }' "$dir/w$w")
            got=""
            for _ in $(seq 1 100); do
                got=$(redis-cli -p "$PORT" get "$key" 2>/dev/null || true)
                if [[ "$got" =~ ^[0-9]+$ ]]; then break; fi
                sleep 0.2
            done
            if ! [[ "$got" =~ ^[0-9]+$ ]] || [ "$got" -lt "$last_ok" ] || [ "$got" -gt "$last_sent" ]; then
                bad="$bad $key=$got(acked $last_ok, sent $last_sent)"
            fi
        done
        if [ -n "$back" ]; then
            gap="$(( ($(usecs "$back") - $(usecs "$fault_at")) / 1000 )) ms"
        else
            gap="not within 30 s"
        fi
        if [ -n "$bad" ]; then lost=1; fi
        echo "| $round | $([ "$mode" = kill ] && echo "kill -9" || echo SIGSTOP) | $primary | $gap | $acked / $failed | ${bad:-none} |"
        if [ "$mode" = kill ]; then
            # shellcheck disable=SC2086
            (exec setsid $cmdline >> "$WORK/restarted.log" 2>&1 < /dev/null) &
            PIDS+=($!)
            disown $!
        fi
        wait_healthy
    done
done
echo
echo "defaults: $(grep -h '^lease_ms\|^grace_ms\|^reconfig_interval_ms' conf/meta.toml | tr '\n' ' ')$(grep -h '^beacon_interval_ms' conf/server.toml) ${ONEBOX_FLAGS:+(onebox flags: $ONEBOX_FLAGS)}"
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr); $(date -u +%F)"
# KEEP=1 keeps the logs (WORK/data/logs) for a breakdown of the gaps.
if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK" >&2; WORK=""; fi
exit "$lost"
