#!/usr/bin/env bash
# Compares Petrel with its peers on this machine and writes bench/RESULTS.md
# (issue 6). One system runs at a time, all on 127.0.0.1:
#
#   redis         redis-server, no persistence
#   redis-aof     redis-server, appendonly yes, appendfsync always
#   twemproxy     nutcracker in front of a redis-server (no persistence)
#   petrel-sync   petrel onebox, 3 servers, 3 replicas, durability sync
#   petrel-async  petrel onebox, 3 servers, 3 replicas, durability async
#
# Against each: a sequential fill of the key space, then redis-benchmark
# (SET, GET, INCR, MSET; -c 50 -r 100000 -d 64) at pipeline 1 and 16, then
# petrel-bench YCSB A and B (zipfian). The report has the machine, the
# versions, every figure, Petrel's ratios to each peer and the issue's
# targets with PASS/MISS; bench/RESULTS-notes.md, if present, is appended
# verbatim (RESULTS.md itself is regenerated, so analysis lives there).
#
# Rates differ by 100x between systems, so a fixed -n either takes an hour
# on the slowest or a blink on the fastest: each redis-benchmark test first
# runs a short probe, then about SECONDS worth of requests at the probed
# rate, at most P1_REQUESTS / P16_REQUESTS. The report lists every -n.
#
# Usage: bench/compare.sh [P1_REQUESTS [P16_REQUESTS [SECONDS]]]
#        (defaults 200000, 1000000, 8: each test about 8 s at most, YCSB
#        8 s per workload; about 6 minutes on 2 cores, plus any build)
# Environment:
#   PETREL_COMPARE_QUICK=1      small counts (5000, 20000, 1 s), for testing
#   PETREL_COMPARE_OUT=PATH     write the report there instead
#   PETREL_COMPARE_DATA=DIR     parent of the data directories (default
#                               /var/tmp, which is on disk where /tmp may be
#                               tmpfs; fsync figures mean nothing on tmpfs)
#   PETREL_COMPARE_BUILD=0      skip cargo build (use the binaries as built)
#   PETREL_COMPARE_MEMORY=0     skip the memory table (bench/memory.sh)
#   PETREL_COMPARE_VERIFY=0     skip the petrel-bench check
#                               (bench/verify-petrel-bench.sh)
#   PETREL_COMPARE_SYSTEMS="…"  the systems to run, space-separated (default
#                               all five above), e.g. "petrel-sync"
#   PETREL_COMPARE_BIN=DIR      take Petrel's binaries from DIR (default the
#                               release build), e.g. an older commit's, to
#                               compare before and after a change
# Ports 18379-18381, 18390-18391, 18400-18401, 18601-18602, 18701-18703 and
# 18711-18713 on 127.0.0.1 must be free (all below Linux's ephemeral range,
# where an outgoing connection could take one between two systems).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-server redis-tools nutcracker
command -v python3 >/dev/null 2>&1 || ensure_packages python3
if [ "${PETREL_COMPARE_BUILD:-1}" != 0 ]; then
    cargo build --release --workspace --bins >&2
fi
BIN="${PETREL_COMPARE_BIN:-$CARGO_TARGET_DIR/release}"

if [ "${PETREL_COMPARE_QUICK:-0}" != 0 ]; then
    P1_REQUESTS="${1:-5000}" P16_REQUESTS="${2:-20000}" SECS="${3:-1}"
    P1_PROBE=500 P16_PROBE=4000 WARMUP_SECS=1
else
    P1_REQUESTS="${1:-200000}" P16_REQUESTS="${2:-1000000}" SECS="${3:-8}"
    P1_PROBE=2000 P16_PROBE=16000 WARMUP_SECS=2
fi
OUT="${PETREL_COMPARE_OUT:-bench/RESULTS.md}"
NOTES="bench/RESULTS-notes.md"
# The load shape of the issue; KEYSPACE is redis-benchmark's -r.
CLIENTS=50 KEYSPACE=100000 DATA_SIZE=64
# One client thread, as redis-benchmark: the generator shares the 2 cores.
BENCH_THREADS=1
# A hung redis-benchmark (it can wait forever on an odd reply) costs at
# most this much more than the run should take.
SLACK=60

read -r -a SYSTEMS <<< "${PETREL_COMPARE_SYSTEMS:-redis redis-aof twemproxy petrel-sync petrel-async}"
REDIS_PORT=18379 AOF_PORT=18380 BACKEND_PORT=18381
NUT_PORT=18390 NUT_STATS_PORT=18391
SYNC_PORT=18400 SYNC_META=18601 SYNC_SERVER=18701
ASYNC_PORT=18401 ASYNC_META=18602 ASYNC_SERVER=18711

# port_in_use and wait_serving; the trap below replaces its exit trap.
# shellcheck source=bench/lib.sh
source bench/lib.sh
mkdir -p "${PETREL_COMPARE_DATA:-/var/tmp}"
WORK="$(mktemp -d "${PETREL_COMPARE_DATA:-/var/tmp}/petrel-compare.XXXXXX")"
RES="$WORK/results"
mkdir -p "$RES"
PIDS=()       # processes this script started and has not stopped yet
ORPHANS=()    # onebox children, killed if onebox leaves any behind

stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${ORPHANS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    PIDS=() ORPHANS=()
}
cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in $REDIS_PORT $AOF_PORT $BACKEND_PORT $NUT_PORT $NUT_STATS_PORT \
    $SYNC_PORT $SYNC_META $SYNC_SERVER $((SYNC_SERVER + 1)) $((SYNC_SERVER + 2)) \
    $ASYNC_PORT $ASYNC_META $ASYNC_SERVER $((ASYNC_SERVER + 1)) $((ASYNC_SERVER + 2)); do
    if port_in_use "$port"; then echo "compare: port $port is in use" >&2; exit 1; fi
done

# note SYSTEM TEXT: a line for the report's anomalies section.
note() { echo "$2" >> "$RES/$1/anomalies.txt"; }

# start_redis NAME PORT [redis-server options...]
start_redis() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/$name"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --dir "$WORK/$name" \
        --daemonize no "$@" > "$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    wait_serving "$port" "redis-server $name"
}

start_twemproxy() {
    start_redis twemproxy-backend "$BACKEND_PORT" --appendonly no || return 1
    cat > "$WORK/nutcracker.yml" <<EOF
alpha:
  listen: 127.0.0.1:$NUT_PORT
  hash: fnv1a_64
  distribution: ketama
  redis: true
  servers:
   - 127.0.0.1:$BACKEND_PORT:1
EOF
    # The default pid file (/run/nutcracker) and stats port (22222) are not
    # ours to take.
    nutcracker -c "$WORK/nutcracker.yml" -o "$WORK/twemproxy.log" -p "$WORK/nutcracker.pid" \
        -s "$NUT_STATS_PORT" -a 127.0.0.1 > "$WORK/nutcracker.out" 2>&1 &
    PIDS+=($!)
    wait_serving "$NUT_PORT" nutcracker
}

# start_onebox NAME PORT META_PORT SERVER_PORT DURABILITY
start_onebox() {
    local name=$1 port=$2 meta=$3 server=$4 durability=$5 pid
    "$BIN/petrel" onebox --dir "$WORK/$name" --port "$port" --meta-port "$meta" \
        --server-port "$server" --servers 3 --replicas 3 --durability "$durability" \
        --bin-dir "$BIN" > "$WORK/$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 1200); do
        if grep -q '^ready' "$WORK/$name.log" 2>/dev/null; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then cat "$WORK/$name.log" >&2; return 1; fi
        sleep 0.1
    done
    grep -q '^ready' "$WORK/$name.log" || { echo "compare: onebox $name never became ready" >&2; return 1; }
    mapfile -t -O "${#ORPHANS[@]}" ORPHANS < <(pgrep -P "$pid")
    wait_serving "$port" "onebox $name"
}

# run_rb SYSTEM PORT PIPELINE TEST REQUESTS TIMEOUT NAME: one redis-benchmark
# test, CSV on stdout, stderr into NAME.err; notes a failure, status 1.
run_rb() {
    local sys=$1 port=$2 pipeline=$3 test=$4 requests=$5 limit=$6 name=$7 rc=0
    timeout --kill-after=5 "$limit" redis-benchmark -p "$port" -t "$test" -n "$requests" \
        -c "$CLIENTS" -r "$KEYSPACE" -d "$DATA_SIZE" -P "$pipeline" --csv \
        2> "$RES/$sys/$name.err" || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        note "$sys" "$name: redis-benchmark -n $requests timed out after $limit s"
    elif [ "$rc" != 0 ]; then
        note "$sys" "$name: redis-benchmark -n $requests exited with status $rc"
    fi
    [ "$rc" = 0 ]
}

# start_system SYSTEM: starts it and sets PORT to where clients connect.
start_system() {
    case $1 in
        redis)
            PORT=$REDIS_PORT
            start_redis redis "$PORT" --appendonly no ;;
        redis-aof)
            PORT=$AOF_PORT
            start_redis redis-aof "$PORT" --appendonly yes --appendfsync always ;;
        twemproxy)
            PORT=$NUT_PORT
            start_twemproxy ;;
        petrel-sync)
            PORT=$SYNC_PORT
            start_onebox petrel-sync "$PORT" "$SYNC_META" "$SYNC_SERVER" sync ;;
        petrel-async)
            PORT=$ASYNC_PORT
            start_onebox petrel-async "$PORT" "$ASYNC_META" "$ASYNC_SERVER" async ;;
    esac
}

# redis_benchmark SYSTEM PORT PIPELINE MAX_REQUESTS PROBE: CSV rows into
# p$PIPELINE.csv, each test's -n into p$PIPELINE.n. One test per run, as
# redis-benchmark quits at the first error reply and would lose the rest.
redis_benchmark() {
    local sys=$1 port=$2 pipeline=$3 max=$4 probe=$5 test rps n
    for test in set get incr mset; do
        rps="$(run_rb "$sys" "$port" "$pipeline" "$test" "$probe" "$SLACK" "$test-p$pipeline-probe" |
            awk -F'"' '$2 != "test" && $4 != "" {printf "%d", $4; exit}')" || true
        if [ -z "$rps" ]; then
            note "$sys" "$test-p$pipeline: no figure from the probe (-n $probe); test skipped"
            continue
        fi
        n=$(( rps * SECS ))
        if [ "$n" -lt "$probe" ]; then n=$probe; fi
        if [ "$n" -gt "$max" ]; then n=$max; fi
        echo "$test $n" >> "$RES/$sys/p$pipeline.n"
        run_rb "$sys" "$port" "$pipeline" "$test" "$n" $((SLACK + 3 * SECS)) "$test-p$pipeline" \
            >> "$RES/$sys/p$pipeline.csv" || true
    done
}

# bench_system SYSTEM PORT: fill every key, redis-benchmark, then YCSB A and B.
bench_system() {
    local sys=$1 port=$2 rc=0
    # The same full key space on every system, so GETs hit.
    timeout --kill-after=5 $((SLACK + KEYSPACE / 2000)) "$BIN/petrel-bench" -p "$port" -w set \
        --distribution sequential --keyspace "$KEYSPACE" -n "$KEYSPACE" -d "$DATA_SIZE" \
        -c "$CLIENTS" -P 16 --threads "$BENCH_THREADS" --json -q \
        > "$RES/$sys/fill.json" 2> "$RES/$sys/fill.err" || note "$sys" "key space fill failed (status $?)"
    redis_benchmark "$sys" "$port" 1 "$P1_REQUESTS" "$P1_PROBE"
    redis_benchmark "$sys" "$port" 16 "$P16_REQUESTS" "$P16_PROBE"
    timeout --kill-after=5 $((SLACK + 2 * (SECS + WARMUP_SECS))) "$BIN/petrel-bench" -p "$port" -w ycsb-a,ycsb-b \
        --distribution zipfian --keyspace "$KEYSPACE" -d "$DATA_SIZE" -c "$CLIENTS" \
        --duration "$SECS" --warmup "$WARMUP_SECS" --threads "$BENCH_THREADS" --json -q \
        > "$RES/$sys/ycsb.json" 2> "$RES/$sys/ycsb.err" || rc=$?
    if [ "$rc" != 0 ]; then note "$sys" "petrel-bench YCSB exited with status $rc"; fi
}

START_DATE="$(date -u '+%F %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
# Cheap fsync figure of the data directories' disk: 4 KiB O_DSYNC writes.
FSYNC_US="$(dd if=/dev/zero of="$WORK/dsync-test" bs=4k count=1000 oflag=dsync 2>&1 |
    awk '/copied/ {for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") {printf "%.0f", $(i-1) * 1e6 / 1000; exit}}')"
rm -f "$WORK/dsync-test"

for sys in "${SYSTEMS[@]}"; do
    mkdir -p "$RES/$sys"
    : > "$RES/$sys/anomalies.txt"
    echo "compare: $sys" >&2
    started=$SECONDS
    # A system that does not start is reported, not fatal: the others
    # still make a report.
    if start_system "$sys"; then
        bench_system "$sys" "$PORT"
    else
        note "$sys" "did not start; the end of its log:"
        tail -n 5 "$WORK/$sys.log" 2>/dev/null | sed 's/^/    /' >> "$RES/$sys/anomalies.txt" || true
    fi
    if [ "$sys" = twemproxy ]; then
        # What twemproxy refused (redis-benchmark asks CONFIG GET first).
        grep -o "unsupported command '[^']*'" "$WORK/twemproxy.log" 2>/dev/null | sort | uniq -c |
            while read -r count what; do note "$sys" "twemproxy log: $what (${count}x)"; done || true
    fi
    stop_all
    echo $((SECONDS - started)) > "$RES/$sys/seconds"
done

# --- The report: machine and versions here, tables in Python below. ---
data_dev="$(findmnt -n -o SOURCE -T "$WORK" | head -1)"
data_fs="$(findmnt -n -o FSTYPE,OPTIONS -T "$WORK" | head -1 | tr -s ' ' | sed 's/ /, /')"
rota="$(lsblk -n -d -o ROTA "$data_dev" 2>/dev/null | tr -d ' ' || true)"
[ "$(findmnt -n -o FSTYPE -T "$WORK" | head -1)" = tmpfs ] && disk_warning=" **tmpfs: fsync costs nothing here, so the durable figures are not durable; set PETREL_COMPARE_DATA to a disk**" || disk_warning=""
case $rota in 0) disk_kind="non-rotational" ;; 1) disk_kind="rotational (or a virtual disk that reports so)" ;; *) disk_kind="kind unknown" ;; esac
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- 2>/dev/null || commit="$commit with uncommitted changes"

{
    echo "# Petrel compared with Redis and twemproxy"
    echo
    echo "Generated by \`bench/compare.sh\` on $START_DATE. Do not edit by hand: the"
    echo "script overwrites this file; analysis goes in \`bench/RESULTS-notes.md\`,"
    echo "which is appended at the end."
    echo
    echo "## Machine"
    echo
    hypervisor="$(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1)"
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores${hypervisor:+ (virtual machine, $hypervisor)}"
    echo "- Memory: $(free -g | awk '/^Mem:/ {print $2}') GiB"
    # shellcheck source=/dev/null
    echo "- Kernel: $(uname -sr); $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "- Data directories (Petrel's RocksDB and log, the durable Redis's AOF): \`$WORK\` on \`$data_dev\` ($data_fs), $disk_kind; $(df -h --output=size,avail "$WORK" | tail -1 | awk '{print $1 " size, " $2 " free"}')$disk_warning"
    echo "- fsync cost of that disk: ${FSYNC_US:-?} µs per 4 KiB O_DSYNC write (dd, 1000 writes)"
    echo "- Load average before the run: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Every process (servers, proxies, meta, and the load generator) shares these cores."
    echo
    echo "## Versions"
    echo
    echo "- Petrel: $("$BIN/petrel" --version), commit $commit; $(rustc --version)"
    echo "- $(redis-server --version | cut -d' ' -f1-3)"
    echo "- $(redis-benchmark --version 2>&1 | head -1)"
    echo "- $(nutcracker --version 2>&1 | head -1 | sed 's/^This is //')"
    echo "- $("$BIN/petrel-bench" --version)"
    echo
    echo "## Load"
    echo
    echo "- redis-benchmark \`-t TEST -c $CLIENTS -r $KEYSPACE -d $DATA_SIZE\` at \`-P 1\` and \`-P 16\`, one run per test (SET, GET, INCR, MSET, in that order). Each run's \`-n\` is what the probed rate does in about $SECS s (probes of $P1_PROBE and $P16_PROBE requests), within [probe, $P1_REQUESTS] at pipeline 1 and [probe, $P16_REQUESTS] at pipeline 16; the table at the end lists them. MSET sets 10 keys; its ops/s counts commands."
    echo "- petrel-bench \`-w ycsb-a,ycsb-b --distribution zipfian --keyspace $KEYSPACE -d $DATA_SIZE -c $CLIENTS --duration $SECS --warmup $WARMUP_SECS --threads $BENCH_THREADS\` (pipeline 1). YCSB A is 50% GET / 50% SET, B is 95% / 5%."
    echo "- Before these, every key of the key space is set once (petrel-bench \`-w set --distribution sequential -P 16\`), so GETs hit."
    echo "- One system at a time: start, fill, benchmark, stop. Latencies are in ms."
} > "$WORK/report.md"

python3 - "$RES" "${SYSTEMS[@]}" >> "$WORK/report.md" <<'PY'
import csv, glob, json, os, sys

res, systems = sys.argv[1], sys.argv[2:]
LABEL = {
    "redis": "redis-server (no persistence)",
    "redis-aof": "redis-server, appendfsync always",
    "twemproxy": "twemproxy → redis-server",
    "petrel-sync": "Petrel, 3 replicas, sync",
    "petrel-async": "Petrel, 3 replicas, async",
}
TESTS = ["SET", "GET", "INCR", "MSET"]
PEERS = ["redis", "redis-aof", "twemproxy"]
PETRELS = ["petrel-sync", "petrel-async"]


def read(sys_, name):
    try:
        with open(os.path.join(res, sys_, name)) as f:
            return f.read()
    except OSError:
        return ""


def redis_benchmark(sys_, pipeline):
    """{test: (ops/s, p50, p99)} from redis-benchmark --csv."""
    out = {}
    for row in csv.reader(read(sys_, f"p{pipeline}.csv").splitlines()):
        if len(row) >= 7 and row[0] != "test":
            try:
                out[row[0].split()[0]] = (float(row[1]), float(row[4]), float(row[6]))
            except ValueError:
                pass
    return out


def petrel_bench(sys_, name):
    """{workload: run} from petrel-bench --json."""
    try:
        runs = json.loads(read(sys_, name))["endpoints"][0]["runs"]
    except (ValueError, KeyError, IndexError):
        return {}
    return {r["workload"]: r for r in runs}


def kind(run, op):
    for k in run.get("kinds", []):
        if k["op"] == op:
            return k
    return None


RB = {p: {s: redis_benchmark(s, p) for s in systems} for p in (1, 16)}
YC = {s: petrel_bench(s, "ycsb.json") for s in systems}


def ops(v):
    return "—" if v is None else f"{v:,.0f}"


def ms(v):
    return "—" if v is None else f"{v:.3f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fx(r):
    return "n/a" if r is None else f"{r:.2f}x"


def figure(s, test):
    """(ops/s, p99) of one test of one system; test is (pipeline, name)
    for redis-benchmark or ("ycsb", workload) for petrel-bench (p99 of GET)."""
    src, name = test
    if src == "ycsb":
        run = YC.get(s, {}).get(name)
        if not run:
            return None, None
        get = kind(run, "get")
        return run["ops_per_sec"], get["p99_ms"] if get else None
    got = RB[src].get(s, {}).get(name)
    return (got[0], got[2]) if got else (None, None)


def test_name(test):
    src, name = test
    return f"YCSB {name[-1].upper()}" if src == "ycsb" else f"{name} P{src}"


for p in (1, 16):
    print(f"\n## redis-benchmark, pipeline {p}\n")
    head = ["system"] + [f"{t} {c}" for t in TESTS for c in ("ops/s", "p50", "p99")]
    print("| " + " | ".join(head) + " |")
    print("|---" + "|---:" * (len(head) - 1) + "|")
    for s in systems:
        cells = [LABEL[s]]
        for t in TESTS:
            got = RB[p][s].get(t)
            cells += [ops(got[0]), ms(got[1]), ms(got[2])] if got else ["—"] * 3
        print("| " + " | ".join(cells) + " |")

print("\n## petrel-bench, YCSB, zipfian, pipeline 1\n")
print("| system | workload | ops/s | GET p50 | GET p99 | GET p99.9 | SET p50 | SET p99 | SET p99.9 | errors |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in systems:
    for w in ("ycsb-a", "ycsb-b"):
        run = YC[s].get(w)
        if not run:
            print(f"| {LABEL[s]} | {w} |" + " — |" * 8)
            continue
        cells = [LABEL[s], w, ops(run["ops_per_sec"])]
        for op in ("get", "set"):
            k = kind(run, op)
            cells += [ms(k[f]) if k else "—" for f in ("p50_ms", "p99_ms", "p999_ms")]
        cells.append(str(run.get("errors", 0) + run.get("io_errors", 0)))
        print("| " + " | ".join(cells) + " |")

ALL = [(p, t) for p in (1, 16) for t in TESTS] + [("ycsb", "ycsb-a"), ("ycsb", "ycsb-b")]
cols = [(a, b) for a in PETRELS for b in PEERS if a in systems and b in systems]
for title, idx, note in (
    ("Throughput ratios: Petrel ops/s ÷ peer ops/s (higher is better)", 0, ""),
    ("p99 latency ratios: Petrel p99 ÷ peer p99 (lower is better)", 1,
     "YCSB rows compare the p99 of GET.\n"),
):
    print(f"\n## {title}\n")
    if note:
        print(note)
    print("| test | " + " | ".join(f"{a.split('-')[1]} ÷ {b}" for a, b in cols) + " |")
    print("|---" + "|---:" * len(cols) + "|")
    for test in ALL:
        cells = [fx(ratio(figure(a, test)[idx], figure(b, test)[idx])) for a, b in cols]
        print(f"| {test_name(test)} | " + " | ".join(cells) + " |")

print("\n## Targets (issue 6)\n")
print("Judged on Petrel with 3 replicas and durability sync; async is shown for reference.\n")
print("| target | peer | Petrel sync | ratio | result | Petrel async | ratio | result |")
print("|---|---:|---:|---:|---|---:|---:|---|")
TARGETS = [
    ("SET, pipeline 1: ≥ 1.0x durable Redis", "redis-aof", (1, "SET"), 0, 1.0),
    ("GET, pipeline 1: ≥ 0.8x twemproxy", "twemproxy", (1, "GET"), 0, 0.8),
    ("GET, pipeline 16: ≥ 0.5x twemproxy", "twemproxy", (16, "GET"), 0, 0.5),
    ("SET, pipeline 16: ≥ 0.5x twemproxy", "twemproxy", (16, "SET"), 0, 0.5),
    ("GET p99, pipeline 1: ≤ 2x twemproxy's", "twemproxy", (1, "GET"), 1, 2.0),
]
for text, peer, test, idx, bound in TARGETS:
    show = ops if idx == 0 else (lambda v: "—" if v is None else f"{v:.3f} ms")
    cells = [text, show(figure(peer, test)[idx])]
    for petrel in PETRELS:
        mine = figure(petrel, test)[idx]
        r = ratio(mine, figure(peer, test)[idx])
        if r is None:
            verdict = "NO DATA"
        elif idx == 0:
            verdict = "PASS" if r >= bound else "MISS"
        else:
            verdict = "PASS" if r <= bound else "MISS"
        cells += [show(mine), fx(r), f"**{verdict}**"]
    print("| " + " | ".join(cells) + " |")

print("\n## Anomalies\n")
lines = []
for s in systems:
    for line in read(s, "anomalies.txt").splitlines():
        lines.append(f"- {LABEL[s]}: {line}")
    # stderr of every run, each distinct line once with the runs it came from.
    where = {}
    for path in sorted(glob.glob(os.path.join(res, s, "*.err"))):
        run = os.path.basename(path)[:-4]
        for line in read(s, os.path.basename(path)).splitlines():
            line = line.strip()
            if line and run not in where.setdefault(line, []):
                where[line].append(run)
    for line, runs in list(where.items())[:10]:
        origin = ", ".join(runs) if len(runs) <= 4 else f"{len(runs)} runs"
        lines.append(f"- {LABEL[s]}: `{line[:300]}` (stderr of {origin})")
    if len(where) > 10:
        lines.append(f"- {LABEL[s]}: {len(where) - 10} more distinct stderr lines")
    for name in ("fill.json", "ycsb.json"):
        for w, run in petrel_bench(s, name).items():
            if run.get("errors") or run.get("io_errors"):
                lines.append(f"- {LABEL[s]}: petrel-bench {w} ({name[:-5]}): "
                             f"{run.get('errors')} errors, {run.get('io_errors')} I/O errors "
                             f"`{json.dumps(run.get('error_kinds'))}`")
print("\n".join(lines) if lines else "None: every run finished without errors.")

print("\n## Requests per redis-benchmark run (-n)\n")
print("| system | " + " | ".join(f"{t} P{p}" for p in (1, 16) for t in TESTS) + " |")
print("|---" + "|---:" * 8 + "|")
for s in systems:
    n = {}
    for p in (1, 16):
        for line in read(s, f"p{p}.n").splitlines():
            test, count = line.split()
            n[(p, test.upper())] = int(count)
    print(f"| {LABEL[s]} | " + " | ".join(ops(n.get((p, t))) for p in (1, 16) for t in TESTS) + " |")

print("\n## Wall-clock time per system\n")
print(", ".join(f"{LABEL[s]} {read(s, 'seconds').strip() or '?'} s" for s in systems) + ".")
PY

# Memory of a Petrel onebox at rest, idle connections, load, slow clients;
# then petrel-bench checked against redis-benchmark on a plain redis-server.
if [ "${PETREL_COMPARE_MEMORY:-1}" = 1 ]; then
    {
        echo
        echo "## Memory (bench/memory.sh)"
        echo
        echo "RSS of the proxy and of the three servers of a onebox (3 replicas, sync)."
        echo
        bench/memory.sh 2>"$WORK/memory.err" || echo "_bench/memory.sh failed: $(tail -1 "$WORK/memory.err")_"
    } >> "$WORK/report.md"
fi
if [ "${PETREL_COMPARE_VERIFY:-1}" = 1 ]; then
    {
        echo
        echo "## petrel-bench against redis-benchmark (bench/verify-petrel-bench.sh)"
        echo
        echo "Both tools against the same redis-server (no persistence, key space filled), nine rounds of both back to back per shape; each tool's medians, and the median of the rounds' ratios petrel-bench ÷ redis-benchmark (latencies on redis-benchmark's 8 µs grid). Shapes redis-benchmark itself saturates are not judged."
        echo
        bench/verify-petrel-bench.sh 2>"$WORK/verify.err" || echo "_bench/verify-petrel-bench.sh failed: $(tail -1 "$WORK/verify.err")_"
    } >> "$WORK/report.md"
fi

{
    echo
    echo "## Analysis"
    echo
    if [ -f "$NOTES" ]; then
        echo "<!-- From bench/RESULTS-notes.md, appended verbatim by bench/compare.sh. -->"
        echo
        cat "$NOTES"
    else
        echo "_None yet: write it in \`bench/RESULTS-notes.md\`; the next run appends it here._"
    fi
} >> "$WORK/report.md"

mkdir -p "$(dirname "$OUT")"
cp "$WORK/report.md" "$OUT"
echo "compare: wrote $OUT in $SECONDS s" >&2
