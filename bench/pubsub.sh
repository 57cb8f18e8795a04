#!/usr/bin/env bash
# Measures pub/sub (issue 17) on Petrel and on redis-server in one run, with
# petrel-bench -w pubsub (64-byte messages stamped with their send time):
#
#   A  1 channel x 1,000 subscribers, 4 publishers
#   B  10,000 channels x 1 subscriber each, 8 publishers
#
# Petrel: a onebox (3 servers, 3 replicas, 8 partitions) with --proxies 2;
# the subscribers connect to proxy 2 and the publishers to proxy 1, so every
# message goes from proxy 1 to its channel's broker (a partition primary)
# and on to proxy 2. Redis: everything on one redis-server.
#
# Each scenario runs twice on each system, Petrel first:
#   max   publishers as fast as their replies come, holding back while more
#         than MAX_IN_FLIGHT deliveries (announced by PUBLISH replies) have
#         not arrived yet;
#   rate  a fixed PUBLISH rate, the same on both systems: half of what
#         Petrel sustained in its max run, so both are compared below
#         saturation.
# The in-flight bound is there because Petrel answers PUBLISH once the
# broker has queued the message, before proxy 2 fans it out: publishers
# that do not wait outrun the fan-out and proxy 2's backlog (memory and
# latency) grows for as long as the run lasts (7.8 GB of RSS in 6 s, the
# first time this was tried). redis-server writes the message into every
# subscriber's output buffer before it answers, so there the bound only
# binds when the subscribers (petrel-bench) fall behind.
#
# Memory: scenario B's max run goes first on both systems and reports the
# RSS (/proc/PID/status) of proxy 2 and of redis-server before its 10,000
# subscribers connect, once they are all subscribed (1 s later), and after
# publishing: bytes per subscribed connection = the growth / 10,000.
#
# Connections: 10,000 subscribers on one process need 10,000 descriptors
# there and in petrel-bench. The script raises its open-file limit to the
# hard limit (onebox's children inherit it; petrel-bench raises its own)
# and stops if that is below NEED_FDS. Both proxies and redis-server get
# `maxclients 12000`: the default, 10000 (Redis's and the proxy's), would
# take B's subscribers on proxy 2 but turn away anything more (Redis, with
# the publishers on the same server, would refuse the 10,001st client).
#
# Usage: bench/pubsub.sh [SECONDS]   (default 5 per run after 1 s of
#        warm-up; about 2 minutes in all, plus any build)
# Environment: PETREL_PUBSUB_DATA=DIR (default /var/tmp) for the onebox's
# data; PETREL_PUBSUB_BUILD=0 to use the binaries as built. Ports 18481,
# 18471-18472, 18671 and 18771-18773 on 127.0.0.1 must be free.
# Prints Markdown tables; copy them to bench/RESULTS-notes.md with the
# machine lines printed above them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib/setup.sh
ensure_packages build-essential clang libclang-dev redis-server redis-tools
command -v python3 >/dev/null 2>&1 || ensure_packages python3
if [ "${PETREL_PUBSUB_BUILD:-1}" != 0 ]; then
    cargo build --release --workspace --bins >&2
fi
BIN="$CARGO_TARGET_DIR/release"
SECS="${1:-5}"
WARMUP=1
MAX_IN_FLIGHT=10000
NEED_FDS=10500
REDIS_PORT=18481 PROXY_PORT=18471 META_PORT=18671 SERVER_PORT=18771
PROXY2_PORT=$((PROXY_PORT + 1))

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED_FDS" ]; then
    echo "pubsub: 10,000 subscribers need $NEED_FDS open files per process; the limit is $(ulimit -n) (hard $(ulimit -Hn)): raise it first" >&2
    exit 1
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
for port in $REDIS_PORT $PROXY_PORT $PROXY2_PORT $META_PORT $SERVER_PORT \
    $((SERVER_PORT + 1)) $((SERVER_PORT + 2)); do
    if port_in_use "$port"; then echo "pubsub: port $port is in use" >&2; exit 1; fi
done
mkdir -p "${PETREL_PUBSUB_DATA:-/var/tmp}"
WORK="$(mktemp -d "${PETREL_PUBSUB_DATA:-/var/tmp}/petrel-pubsub.XXXXXX")"

redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --maxclients 12000 --dir "$WORK" --daemonize no > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
start_onebox "$WORK/onebox.log" --dir "$WORK/onebox" --port "$PROXY_PORT" --meta-port "$META_PORT" \
    --server-port "$SERVER_PORT" --servers 3 --replicas 3 --partitions 8 --proxies 2
PROXY2_PID="$(awk -v a="127.0.0.1:$PROXY2_PORT" '$1 == "proxy" && $2 == a {print $4}' "$WORK/onebox.log")"
for port in "$REDIS_PORT" "$PROXY_PORT" "$PROXY2_PORT"; do wait_serving "$port"; done
for port in "$PROXY_PORT" "$PROXY2_PORT"; do
    [ "$(redis-cli -p "$port" config set maxclients 12000)" = OK ] ||
        { echo "pubsub: CONFIG SET maxclients failed on port $port" >&2; exit 1; }
done

# bench NAME SYSTEM SCENARIO RUN [petrel-bench flags...]: one run, its JSON
# in $WORK/NAME.json (or a note in $WORK/NAME.failed).
bench() {
    local name=$1 system=$2 scenario=$3 run=$4 rc=0 target
    shift 4
    if [ "$system" = petrel ]; then
        target=(-p "$PROXY_PORT" --subscribe-to "127.0.0.1:$PROXY2_PORT")
    else
        target=(-p "$REDIS_PORT")
    fi
    case $scenario in
        A) target+=(--channels 1 --subscribers-per-channel 1000 --publishers 4) ;;
        B) target+=(--channels 10000 --subscribers-per-channel 1 --publishers 8) ;;
    esac
    echo "pubsub: $system, scenario $scenario, $run" >&2
    LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
    timeout --kill-after=5 $((SECS + WARMUP + 180)) "$BIN/petrel-bench" -w pubsub "${target[@]}" \
        --max-in-flight "$MAX_IN_FLIGHT" --duration "$SECS" --warmup "$WARMUP" -d 64 \
        --key-prefix "$scenario$run:" --json -q "$@" > "$WORK/$name.json" 2> "$WORK/$name.err" || rc=$?
    if [ "$rc" != 0 ]; then
        { echo "status $rc"; tail -3 "$WORK/$name.err"; } > "$WORK/$name.failed"
        cat "$WORK/$name.failed" >&2
    fi
}

# half_rate NAME: half the PUBLISH rate of run NAME, two significant digits.
half_rate() {
    python3 - "$WORK/$1.json" <<'PY'
import json, math, sys
try:
    r = json.load(open(sys.argv[1]))["endpoints"][0]["runs"][0]["pubsub"]["published_per_sec"] / 2
except Exception:
    r = 0
if r < 1:
    print(1)
else:
    digits = 10 ** max(0, int(math.log10(r)) - 1)
    print(int(round(r / digits) * digits))
PY
}

LOADS=()   # the 1-minute load average as each run starts
START_DATE="$(date -u '+%F %H:%M UTC')"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
# B first: its RSS readings start from processes that have served nothing.
bench petrel-B-max petrel B max --rss-pid "$PROXY2_PID"
bench redis-B-max redis B max --rss-pid "$REDIS_PID"
RATE_B="$(half_rate petrel-B-max)"
bench petrel-B-rate petrel B rate --rate "$RATE_B"
bench redis-B-rate redis B rate --rate "$RATE_B"
bench petrel-A-max petrel A max
bench redis-A-max redis A max
RATE_A="$(half_rate petrel-A-max)"
bench petrel-A-rate petrel A rate --rate "$RATE_A"
bench redis-A-rate redis A rate --rate "$RATE_A"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
# Messages a broker dropped for a proxy that did not poll fast enough.
DROPPED="$(cat "$WORK"/onebox/logs/server-*.log 2>/dev/null | grep -c "queue is full" || true)"

echo "## Pub/sub, Petrel (2 proxies) and redis-server ($START_DATE)"
echo
echo "- Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "- Load average before the run: $LOAD_BEFORE; after: $LOAD_AFTER; 1-minute load as each run started: ${LOADS[*]}"
echo "- Petrel $("$BIN/petrel" --version | awk '{print $NF}'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown): onebox, 3 servers, 3 replicas, 8 partitions, durability sync, 2 proxies (each process 1 worker thread, onebox's default on $(nproc) cores); redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'), no persistence"
echo "- petrel-bench -w pubsub, 64 B messages, ${WARMUP} s warm-up then $SECS s per run, at most $MAX_IN_FLIGHT deliveries in flight; the rate runs publish $RATE_B/s (B) and $RATE_A/s (A), half of Petrel's max"
echo "- Broker log lines about dropped messages: $DROPPED"
echo
python3 - "$WORK" <<'PY'
import json, os, sys

work = sys.argv[1]
def load(name):
    path = os.path.join(work, name + ".json")
    try:
        return json.load(open(path))["endpoints"][0]["runs"][0]
    except Exception:
        return None

SCEN = {"A": "1 channel x 1,000 subscribers", "B": "10,000 channels x 1 subscriber"}
print("| scenario | run | system | published/s | delivered/s | p50 ms | p99 ms | p99.9 ms | lost | delivered/s, Petrel ÷ Redis | p99, Petrel ÷ Redis |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
def kind(run, op):
    return next((k for k in run["kinds"] if k["op"] == op), None)
for scen in ["A", "B"]:
    for mode in ["max", "rate"]:
        runs = {s: load(f"{s}-{scen}-{mode}") for s in ["petrel", "redis"]}
        for system in ["petrel", "redis"]:
            run = runs[system]
            label = f"{SCEN[scen]} | {mode} | {system}"
            if run is None:
                print(f"| {label} | failed | | | | | | | |")
                continue
            p, d = run["pubsub"], kind(run, "deliver") or {}
            ratio = ""
            if system == "redis" and runs["petrel"] is not None:
                pd = kind(runs["petrel"], "deliver") or {}
                dr = runs["petrel"]["pubsub"]["delivered_per_sec"] / p["delivered_per_sec"] if p["delivered_per_sec"] else float("nan")
                lr = pd.get("p99_ms", 0) / d["p99_ms"] if d.get("p99_ms") else float("nan")
                ratio = f"{dr:.2f}x | {lr:.2f}x"
            else:
                ratio = " | "
            print(f"| {label} | {p['published_per_sec']:,.0f} | {p['delivered_per_sec']:,.0f} | "
                  f"{d.get('p50_ms', 0):.2f} | {d.get('p99_ms', 0):.2f} | {d.get('p999_ms', 0):.2f} | "
                  f"{p['lost']:,} of {p['expected']:,} | {ratio} |")
print()
print("| process (scenario B, 10,000 subscribers) | RSS before | subscribed | per subscribed connection | after publishing | subscribe time |")
print("|---|---|---|---|---|---|")
for system, what in [("petrel", "Petrel proxy 2"), ("redis", "redis-server")]:
    run = load(f"{system}-B-max")
    rss = run and run["pubsub"].get("rss")
    if not rss:
        print(f"| {what} | failed | | | | |")
        continue
    mib = lambda b: f"{b / 1048576:.1f} MiB"
    print(f"| {what} | {mib(rss['before_bytes'])} | {mib(rss['subscribed_bytes'])} | "
          f"{rss['bytes_per_subscriber']:,.0f} B | {mib(rss['after_bytes'])} | {run['pubsub']['subscribe_secs']:.2f} s |")
print()
notes = []
for name in sorted(os.listdir(work)):
    if name.endswith(".failed"):
        notes.append(f"- {name[:-7]} failed: " + open(os.path.join(work, name)).read().strip().replace("\n", " / "))
    elif name.endswith(".json"):
        run = load(name[:-5])
        p = run and run.get("pubsub")
        if p and (p["reordered"] or p["malformed"] or p["subscribers_lost"] or p["extra"]):
            notes.append(f"- {name[:-5]}: reordered {p['reordered']}, malformed {p['malformed']}, "
                         f"subscribers cut {p['subscribers_lost']}, extra {p['extra']}")
if notes:
    print("Anomalies:")
    print("\n".join(notes))
PY
