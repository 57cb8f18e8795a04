#!/usr/bin/env bash
# Checks petrel-bench's figures against redis-benchmark on the same plain
# redis-server (no persistence), whose key space is filled first, one
# shape at a time. Each shape runs both tools back to back in ROUNDS rounds
# (default 9; the first tool alternates), so both see the same machine:
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
# The spinners are this script's own children: started in another session
# (setsid) they would get their own scheduler autogroup, which competes at
# full weight whatever its tasks' policy, and starve redis-server.
#
# For each shape it prints both tools' median ops/s, p50 and p99, the
# median over the rounds of petrel-bench / redis-benchmark, whether they
# agree (see row() below) and how busy the tool and redis-server were (CPU
# time over wall time, 100% = one core). The last column says which side
# bounded the shape: where a tool uses 95% of its core or more, that tool
# is part of what it measured, and a tool that does less work per request
# measures more. Usage: [ROUNDS=9] [SHAPES="get 1 1,mset 50 1,..."]
# bench/verify-petrel-bench.sh [N] (requests per run, default 200000; a
# quarter of it with one client, 25 times it at pipeline 16, where a short
# run's p99 is a few milliseconds of the machine's hiccups). A shape is
# "TEST CLIENTS PIPELINE". Then the pubsub workload, which redis-benchmark
# has no counterpart for, is checked against redis-server's own counters
# (see PUBSUB_SHAPES at the end).
# Port 19999 on 127.0.0.1 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-server redis-tools python3
cargo build --release -p petrel-bench --bins >&2
BIN="$CARGO_TARGET_DIR/release"
N="${1:-200000}"
ROUNDS="${ROUNDS:-9}"
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

# Every key of the key space exists before the first shape, so GETs hit
# (and return 64-byte values) in every shape, whichever runs first.
"$BIN/petrel-bench" -p "$PORT" -w set --distribution sequential --keyspace 100000 -n 100000 -d 64 \
    -P 16 --threads 1 -q >/dev/null

# Requests for a run of CLIENTS clients at PIPELINE depth: fewer for one
# client (slow), more for pipelines (fast; a short run's p99 is noise).
count() {
    if [ "$1" = 1 ]; then echo $((N / 4)); elif [ "$2" -gt 1 ]; then echo $((N * 25)); else echo "$N"; fi
}

# Each tool writes its report to $WORK/raw and it is read afterwards: a
# parser started in a pipeline beside the tool (python3 takes a tenth of a
# second to start here) competed with redis-server for CPU 0 during the
# first part of the run and showed up in the p99 of whichever tool it
# followed.
# rb TEST CLIENTS PIPELINE -> redis-benchmark's CSV in $WORK/raw
rb() {
    timeout 300 "${TOOL_CPU[@]}" redis-benchmark -p "$PORT" -t "$1" -n "$(count "$2" "$3")" -c "$2" -P "$3" -r 100000 -d 64 --csv \
        >"$WORK/raw" 2>/dev/null
}
# rb_figures TEST -> "ops p50 p99" from redis-benchmark's CSV
rb_figures() {
    awk -F'"' -v t="${1^^}" 'index($2, t) == 1 {print $4, $10, $14}' "$WORK/raw"
}
# pb TEST CLIENTS PIPELINE -> petrel-bench's JSON in $WORK/raw
pb() {
    "${TOOL_CPU[@]}" "$BIN/petrel-bench" -p "$PORT" -w "$1" --requests "$(count "$2" "$3")" --clients "$2" --pipeline "$3" \
        --keyspace 100000 -d 64 --threads 1 --latency first-reply --json -q >"$WORK/raw" 2>/dev/null
}
# pb_figures TEST -> "ops p50 p99" from petrel-bench's JSON
pb_figures() {
    python3 -c 'import json,sys
k = json.load(open(sys.argv[1]))["endpoints"][0]["runs"][0]["kinds"][0]
print(round(k["ops_per_sec"]), k["p50_ms"], k["p99_ms"])' "$WORK/raw"
}
# server_ticks -> redis-server's user+system CPU time so far, in clock ticks
server_ticks() { awk '{print $14 + $15}' "/proc/$REDIS_PID/stat"; }
TICKS=$(getconf CLK_TCK)
# busy TOOL TEST CLIENTS PIPELINE -> TOOL's figures, then its own CPU use
# and redis-server's during the run (% of one core)
busy() {
    local tool=$1 t0 t1 w0 w1 cpu
    shift
    t0=$(server_ticks)
    w0=$(date +%s.%N)
    cpu=$({ TIMEFORMAT='%U %S'; time "$tool" "$@"; } 2>&1 | tail -1)
    w1=$(date +%s.%N)
    t1=$(server_ticks)
    python3 -c "
wall = $w1 - $w0
u, s = '$cpu'.split()
print('$("${tool}_figures" "$1")', round(100 * (float(u) + float(s)) / wall), round(100 * ($t1 - $t0) / $TICKS / wall))"
}
# row LABEL -> the table row of one shape, from the runs in $WORK/rb and
# $WORK/pb (one line per run: ops/s p50 p99 tool-CPU% server-CPU%, in
# round order). Each tool's figures are its medians. The ratios are the
# medians of the rounds' ratios: both tools' runs of one round ran back to
# back, so a round's ratio is free of the machine's drift over the shape.
# A latency ratio puts petrel-bench's value on redis-benchmark's grid
# first: rounded up to the top of the bucket redis-benchmark would have put
# it in (its histogram starts at 10 us with 3 significant digits, so its
# buckets are 8 us wide below 16.384 ms and twice as wide in each range
# above: 0.055 ms means 48 to 55 us). "Agrees" holds when every ratio is
# within 10%, or a latency's two medians are at most one bucket apart,
# which that grid cannot tell apart. A shape where redis-benchmark uses
# 95% of its core or more is bounded by redis-benchmark itself, not by the
# server both tools measure: it is shown, not judged.
row() {
    python3 - "$1" "$WORK/rb" "$WORK/pb" <<'PY'
import statistics, sys

label, rb_file, pb_file = sys.argv[1:4]
def runs(path):
    return [[float(x) for x in line.split()] for line in open(path) if line.strip()]
rb, pb = runs(rb_file), runs(pb_file)

def step(us):
    m = us >> 3
    return 8 if m < 2048 else 8 << (m.bit_length() - 11)
def on_grid(ms):
    us = round(ms * 1000)
    return (us | (step(us) - 1)) / 1000
def median(xs):
    return statistics.median_low(xs)
def fmt(x):
    return f"{x:g}"

med = lambda rows, i: median([r[i] for r in rows])
ratios = [
    median([p[0] / r[0] for r, p in zip(rb, pb)]),
    median([on_grid(p[1]) / r[1] for r, p in zip(rb, pb)]),
    median([on_grid(p[2]) / r[2] for r, p in zip(rb, pb)]),
]
off = []
if abs(ratios[0] - 1) > 0.10:
    off.append("ops/s")
for name, i in (("p50", 1), ("p99", 2)):
    a, b = med(rb, i), on_grid(med(pb, i))
    within_grid = abs(b - a) <= step(round(a * 1000)) / 1000 + 1e-9
    if abs(ratios[i] - 1) > 0.10 and not within_grid:
        off.append(name)

def bound(tool_cpu, server_cpu):
    return "tool" if tool_cpu >= 95 else "server" if server_cpu >= 90 else "round trip"
rb_bound, pb_bound = bound(med(rb, 3), med(rb, 4)), bound(med(pb, 3), med(pb, 4))
if rb_bound == "tool":
    verdict = "not judged: redis-benchmark bound"
else:
    verdict = "yes" if not off else "no (" + ", ".join(off) + ")"
figures = lambda rows: (f"{fmt(med(rows, 0))}, {fmt(med(rows, 1))}, {fmt(med(rows, 2))}; "
                        f"{fmt(med(rows, 3))}%, {fmt(med(rows, 4))}%")
print(f"| {label} | {figures(rb)} | {figures(pb)} | "
      + " | ".join(f"{x:.2f}" for x in ratios)
      + f" | {verdict} | {rb_bound} / {pb_bound} |")
PY
}

echo "| shape | redis-benchmark ops/s, p50, p99 (ms); its CPU, server CPU | petrel-bench ops/s, p50, p99 (ms); its CPU, server CPU | ops ratio | p50 ratio | p99 ratio | agrees | bounded by (redis-benchmark / petrel-bench) |"
echo "|---|---|---|---|---|---|---|---|"
IFS=, read -r -a SHAPES <<<"${SHAPES:-get 1 1,set 1 1,mset 50 1,get 50 16,set 50 16,get 50 1,set 50 1}"
for shape in "${SHAPES[@]}"; do
    read -r t c p <<<"$shape"
    : >"$WORK/rb"
    : >"$WORK/pb"
    # Alternating which tool goes first, so a drift of the machine during
    # a shape does not favour one.
    for round in $(seq 1 "$ROUNDS"); do
        if [ $((round % 2)) = 1 ]; then order="rb pb"; else order="pb rb"; fi
        for tool in $order; do busy "$tool" "$t" "$c" "$p" >>"$WORK/$tool"; done
    done
    row "${t^^}, $c clients, pipeline $p"
done

# Pub/sub: redis-benchmark has no such load, so petrel-bench's counts are
# checked against redis-server's own instead: the PUBLISH calls it served
# (INFO commandstats, after CONFIG RESETSTAT) against the PUBLISHes
# petrel-bench counted, and the deliveries the replies announced against
# the messages petrel-bench's subscribers read. A shape is "CHANNELS
# SUBSCRIBERS-PER-CHANNEL PUBLISHERS"; PUBSUB_SHAPES="" skips them.
IFS=, read -r -a PUBSUB <<<"${PUBSUB_SHAPES-1 200 2,500 1 4}"
if [ "${#PUBSUB[@]}" -gt 0 ]; then
    echo
    echo "| pub/sub shape | PUBLISH calls (redis-server) | PUBLISHes (petrel-bench) | deliveries announced | delivered | lost | agrees |"
    echo "|---|---|---|---|---|---|---|"
fi
for shape in "${PUBSUB[@]}"; do
    read -r ch subs pubs <<<"$shape"
    redis-cli -p "$PORT" config resetstat >/dev/null
    "${TOOL_CPU[@]}" "$BIN/petrel-bench" -p "$PORT" -w pubsub --channels "$ch" --subscribers-per-channel "$subs" \
        --publishers "$pubs" --duration 2 --warmup 0.5 --max-in-flight 10000 --threads 1 --json -q >"$WORK/raw"
    calls="$(redis-cli -p "$PORT" info commandstats | sed -n 's/^cmdstat_publish:calls=\([0-9]*\),.*/\1/p')"
    python3 - "$WORK/raw" "${calls:-0}" "$ch x $subs, $pubs publishers" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["endpoints"][0]["runs"][0]["pubsub"]
calls, label = int(sys.argv[2]), sys.argv[3]
ok = calls == p["published"] and p["delivered"] == p["expected"] and p["lost"] == 0
print(f"| {label} | {calls} | {p['published']} | {p['expected']} | {p['delivered']} | {p['lost']} | {'yes' if ok else 'no'} |")
PY
done
