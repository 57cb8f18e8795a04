# Helpers the bench scripts share (bench/scripting.sh, bench/pubsub.sh,
# bench/compare.sh, which keeps its own exit trap).
# Source it after scripts/lib/setup.sh, with BIN set to the directory of
# Petrel's release binaries. On exit, every process in PIDS is stopped and
# WORK, if set, removed.

PIDS=()
WORK=""
bench_exit() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap bench_exit EXIT
trap 'exit 130' INT TERM

# port_in_use PORT: whether something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_onebox LOG [petrel onebox flags...]: starts a onebox from BIN, its
# announcements (`proxy ADDR pid N`...) in LOG, and waits for its `ready`
# (two minutes at most; on failure LOG goes to stderr).
start_onebox() {
    local log=$1 pid
    shift
    "$BIN/petrel" onebox --bin-dir "$BIN" "$@" > "$log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 1200); do
        if grep -q '^ready' "$log" 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    return 1
}

# wait_serving PORT [WHAT]: until a SET through 127.0.0.1:PORT succeeds
# (a minute at most; then says WHAT did not serve, and fails).
wait_serving() {
    for _ in $(seq 1 600); do
        if [ "$(redis-cli -p "$1" set bench:warm 1 2>/dev/null)" = OK ]; then return 0; fi
        sleep 0.1
    done
    echo "bench: ${2:-the server} on port $1 never accepted a SET" >&2
    return 1
}
