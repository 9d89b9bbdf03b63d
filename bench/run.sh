#!/usr/bin/env bash
# Benchmarks sse-server side by side with the original Node demo (and, for
# the static page, nginx with one worker; for fan-out, nginx with nchan). See
# BENCHMARKS.md for the method.
#
#   bench/run.sh                 3 runs of every test, medians reported
#   BENCH_RUNS=5 bench/run.sh    more runs
#   BENCH_QUICK=1 bench/run.sh   1 run, shorter durations (to check the script)
#   BENCH_TESTS=eps bench/run.sh only some of the tests: c10k, eps, static,
#                                fanout; and c100k (not in the default set:
#                                100,000 streams over six processes)
#   BENCH_REV=HEAD bench/run.sh  measure a commit (a clean export), not the
#                                working tree
#   BENCH_SEED=DIR               where the Node demo (server.js, index.html)
#                                is, for c10k, eps and static (default
#                                ../shared/seed beside the checkout)
#   BENCH_STREAMS=N              streams of c10k (default 10,000)
#
# Everything listens on and connects to 127.0.0.1. Every process started here
# is ended on exit. Output: a markdown table on stdout, and
# target/bench/results.json, results.md and samples.tsv (raw numbers).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$here/.." && pwd)
# The original Node demo (server.js, index.html) is the peer of c10k, eps
# and static; it is not part of this repository: BENCH_SEED names where it
# is (by default next to the checkout, ../shared/seed). c100k and fanout do
# not need it.
SEED_DIR=${BENCH_SEED:-$REPO/../shared/seed}

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
    RUNS=${BENCH_RUNS:-1}
    C10K_SECS=8  # 10,000 streams at 2500 ms: RSS and lateness
    EPS_SECS=3   # 1,000 streams at 1 ms: events/s
    WRK_SECS=3   # static GET /
    FANOUT_LAT_SECS=5 FANOUT_STEP_SECS=3 FANOUT_BISECT=1 FANOUT_BUDGET=60
else
    RUNS=${BENCH_RUNS:-3}
    C10K_SECS=17 # 2 s of connects at 5,000/s, then ~15 s of events
    EPS_SECS=10
    WRK_SECS=10
    # fanout: 10 publishes/s for the latency; steps of the rate for the
    # highest sustained one, within a budget of seconds per server and run.
    FANOUT_LAT_SECS=10 FANOUT_STEP_SECS=5 FANOUT_BISECT=2 FANOUT_BUDGET=150
fi
TESTS=${BENCH_TESTS:-c10k eps static fanout}
NODE_TESTS=0
for t in $TESTS; do [[ $t == c10k || $t == eps || $t == static ]] && NODE_TESTS=1; done
SEED=
if ((NODE_TESTS)); then
    [[ -f $SEED_DIR/server.js && -f $SEED_DIR/index.html ]] || {
        echo "bench: the Node demo (server.js, index.html), the peer of c10k, eps and static, is not at $SEED_DIR: set BENCH_SEED, or run BENCH_TESTS='c100k fanout'" >&2
        exit 1
    }
    SEED=$(cd "$SEED_DIR" && pwd)
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench: BENCH_RUNS must be a positive integer" >&2; exit 2; }
STREAMS=${BENCH_STREAMS:-10000} # c10k (fewer for a quick look; the figures in BENCHMARKS.md are at 10,000)
EPS_STREAMS=1000
SETTLE_SECS=3 # after all 10,000 are open, so each stream has sent an event
FANOUT_SUBS=10000
FANOUT_DRAIN=3     # seconds a step may take after publishing to deliver all
FANOUT_MAX_STEPS=12
LIMIT_SECS=900 # the whole script, whatever happens
[[ " $TESTS " == *" fanout "* ]] && LIMIT_SECS=$((LIMIT_SECS + RUNS * 2 * (FANOUT_BUDGET + 60)))
LIMIT_SECS=${BENCH_LIMIT_SECS:-$LIMIT_SECS}
DISTURBED_CORES=${BENCH_DISTURBED:-0.1} # see other_cpu
OUT=${BENCH_OUT:-$REPO/target/bench}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET_DIR/release
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[bench %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup --
tmp=$(mktemp -d /tmp/sse-bench.XXXXXX)
chmod 755 "$tmp" # nginx's worker (user nobody when run as root) reads here
PIDS=() # running processes started here; an ended one is forgotten at once
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
SUMMARISED=1 # set to 0 once there are samples to summarise
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $SUMMARISED == 0 && -s $SAMPLES ]]; then
        echo "[bench] stopped early: the summary of the samples taken so far" >&2
        meta partial 1
        python3 "$here/summary.py" "$SAMPLES" "$META" "$OUT" || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
# A watchdog: the whole script is bounded in time.
watchdog() {
    sleep "$LIMIT_SECS" &
    local pid=$!
    trap 'kill "$pid" 2>/dev/null; exit 0' TERM
    wait "$pid"
    echo "[bench] time limit of $LIMIT_SECS s reached" >&2
    kill -TERM $$
}
watchdog &
PIDS+=($!)

# ----------------------------------------------------------------- set up --
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so
[[ " $TESTS " != *" fanout "* || -f $NCHAN_SO ]] || need+=(libnginx-mod-nchan)
if ((${#need[@]})); then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y "${need[@]}" >&2; then
        "${sudo[@]}" apt-get update >&2
        "${sudo[@]}" apt-get install -y "${need[@]}" >&2
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
((NODE_TESTS == 0)) || command -v node >/dev/null || die "node is needed for the Node demo"
command -v python3 >/dev/null || die "python3 is needed for the summary"

# The working tree, or with BENCH_REV a clean export of that commit (so a
# tree that is being edited does not change what is measured).
SRC=$REPO
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock .cargo www 2>/dev/null | wc -l)
if [[ -n ${BENCH_REV:-} ]]; then
    COMMIT=$(git -C "$REPO" rev-parse --short "$BENCH_REV^{commit}")
    DIRTY=0
    SRC=$tmp/src
    mkdir -p "$SRC"
    git -C "$REPO" archive "$COMMIT" | tar -x -C "$SRC"
    # One target directory per commit: the export's files all carry the
    # commit's time, older than a build of another commit would be, so
    # cargo would take that build as fresh.
    TARGET_DIR=$REPO/target/bench-build/$COMMIT
    BIN=$TARGET_DIR/release
fi
log "building $COMMIT (cargo build --release in $SRC)"
(cd "$SRC" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --bins >&2)
[[ -x $BIN/sse-server && -x $BIN/sse-bench ]] || die "no binaries in $BIN"

ulimit -n "$(ulimit -Hn)" # 10,000 streams; each process has this limit
NOFILE=$(ulimit -n)
((NOFILE >= STREAMS + 100)) || die "the open-file limit ($NOFILE) is below $STREAMS streams"

# The Node demo, patched only to take its port from the environment (and to
# stay on 127.0.0.1); a second copy with its fixed 2500 ms interval set to
# 1 ms for the events/s test (it has no interval= query).
if ((NODE_TESTS)); then
    mkdir -p "$tmp/node" "$tmp/node-1ms"
    for d in node node-1ms; do cp "$SEED/index.html" "$tmp/$d/"; done
    sed 's/\.listen(8888)/.listen(process.env.PORT || 8888, "127.0.0.1")/' "$SEED/server.js" >"$tmp/node/server.js"
    sed 's/}, 2500);/}, 1);/' "$tmp/node/server.js" >"$tmp/node-1ms/server.js"
    grep -q 'process.env.PORT' "$tmp/node/server.js" || die "could not patch the port of server.js"
    grep -q '}, 1);' "$tmp/node-1ms/server.js" || die "could not patch the interval of server.js"
fi

mkdir -p "$OUT"
SAMPLES=$OUT/samples.tsv
META=$OUT/meta.tsv
: >"$SAMPLES"
: >"$META"
SUMMARISED=0
# A test's samples are staged, and kept once the test was not disturbed.
STAGE=$tmp/stage.tsv
sample() { [[ -n $5 ]] || return 0; printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$STAGE"; } # run test server key value
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

# ---------------------------------------------------------------- helpers --
next_port=$((20000 + RANDOM % 10000)) # below the ephemeral range
free_port() {
    while ss -Htan "( sport = :$next_port )" | grep -q .; do next_port=$((next_port + 1)); done
    PORT=$next_port
    next_port=$((next_port + 1))
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# utime + stime in ticks, of a process and its children (nginx's worker).
ticks() {
    local total=0 pid t
    for pid in "$1" $(pgrep -P "$1" || true); do
        t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }')
        total=$((total + ${t:-0}))
    done
    echo "$total"
}
# All CPUs' busy time (user, nice, system, irq, softirq, steal), in ticks:
# what the machine spent besides our two processes shows up as "other".
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
secs() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# start_server KIND -> SERVER_PID, PORT. KIND: sse, sse-1ms (same binary),
# node, node-1ms, nginx. Logs go to files, at each server's default level.
start_server() {
    local kind=$1
    free_port
    local log="$tmp/$kind.$PORT"
    case $kind in
    sse | sse-1ms)
        "$BIN/sse-server" --port "$PORT" --www "$SRC/www" >"$log.out" 2>"$log.err" &
        ;;
    sse-pub) # fan-out: 20,000 log lines per step at info
        "$BIN/sse-server" --port "$PORT" --www "$SRC/www" --log-level warn >"$log.out" 2>"$log.err" &
        ;;
    nchan)
        mkdir -p "$tmp/nginx-temp"
        cat >"$log.conf" <<EOF
load_module $NCHAN_SO;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $log.pid;
error_log $log.err warn;
events { worker_connections $((NOFILE - 100)); }
http {
    access_log off;
    keepalive_requests 1000000000; # the publisher's one connection
    client_body_temp_path $tmp/nginx-temp/body;
    server {
        listen 127.0.0.1:$PORT;
        location ~ ^/sub/([A-Za-z0-9._-]+)\$ { nchan_subscriber eventsource; nchan_channel_id \$1; }
        location ~ ^/pub/([A-Za-z0-9._-]+)\$ { nchan_publisher http; nchan_channel_id \$1; }
    }
}
EOF
        "$NGINX" -c "$log.conf" -g 'daemon off;' >"$log.out" 2>"$log.stderr" &
        ;;
    node | node-1ms)
        (cd "$tmp/$kind" && PORT=$PORT exec node server.js) >"$log.out" 2>"$log.err" &
        ;;
    nginx)
        mkdir -p "$tmp/nginx-temp"
        cat >"$log.conf" <<EOF
worker_processes 1;
pid $log.pid;
error_log $log.err warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    types { text/html html; }
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx-temp/body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    server {
        listen 127.0.0.1:$PORT;
        root $SRC/www;
        index index.html;
    }
}
EOF
        "$NGINX" -c "$log.conf" -g 'daemon off;' >"$log.out" 2>"$log.stderr" &
        ;;
    *) die "unknown server $kind" ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    local i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log".* >&2 || true; die "$kind exited at start"; }
        ss -Htln "( sport = :$PORT )" | grep -q . && break
        sleep 0.05
    done
    ((i < 200)) || die "$kind is not listening on $PORT after 10 s"
    sleep 1 # idle RSS is read 1 s after start
}

# stop_server RUN TEST KIND: ends the server; counts its warning and error
# log lines (sse-server: WARN/ERROR; node: anything on stderr; nginx:
# its error log at warn and above).
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    forget "$SERVER_PID"
    local log="$tmp/$3.$PORT" n
    case $3 in
    sse*) n=$(grep -cE '(WARN|ERROR)' "$log.err" || true) ;;
    node*) n=$(grep -c . "$log.err" || true) ;;
    nginx | nchan) n=$(grep -cvE '\[notice\]' "$log.err" || true) ;;
    esac
    sample "$1" "$2" "$3" log_warnings "${n:-0}"
    if ((${n:-0} > 0)); then
        log "$3 logged $n warning(s), e.g.: $(grep -m1 -vE '\[notice\]|INFO' "$log.err" | cut -c1-200)"
    fi
}

# load NAME SECS CMD... : runs CMD in the background, bounded in time, with
# stdout/stderr in $tmp/NAME.out/.err and its CPU times in $tmp/NAME.times.
load() {
    local name=$1 secs=$2
    shift 2
    rm -f "$tmp/$name.pid" "$tmp/$name.times" # a retried test's name is the same
    (
        timeout -k 5 "$((${secs%.*} + 60))" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
        echo $! >"$tmp/$name.pid"
        rc=0
        wait $! || rc=$?
        times >"$tmp/$name.times"
        exit $rc
    ) &
    LOAD_PID=$!
    PIDS+=("$LOAD_PID")
    while [[ ! -s $tmp/$name.pid ]]; do sleep 0.01; done
    LOAD_CHILD=$(cat "$tmp/$name.pid")
    PIDS+=("$LOAD_CHILD")
}
# wait_load NAME: waits, and sets LOAD_CPU to the load generator's user+sys
# seconds.
wait_load() {
    local rc=0
    wait "$LOAD_PID" || rc=$?
    forget "$LOAD_PID"
    forget "$LOAD_CHILD" # reaped by the subshell, which has ended
    # Exit 1 of sse-bench --publish is a lost event: a finding, not a fault.
    ((rc == 0 || (rc == 1 && ${LOAD_MAY_FAIL:-0} == 1))) || { cat "$tmp/$1.err" >&2; die "$1 failed (exit $rc)"; }
    # `times`, second line: the children's user and system time, "XmY.YYYs".
    LOAD_CPU=$(sed -n 2p "$tmp/$1.times" | awk '{
        s = 0
        for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] }
        printf "%.2f", s }')
}

# other_cpu RUN TEST KIND TICKS LOAD_CPU: CPU the rest of the machine used
# during a test (all busy time, minus the server's and the load generator's).
# More than BENCH_DISTURBED of a core (default 0.1) on average, and the test
# is "disturbed" (DISTURBED=1): undisturbed, it is 0.02 to 0.05 here.
other_cpu() {
    local other
    other=$(awk -v t="$4" -v h="$CLK_TCK" -v l="$5" 'BEGIN { o = t / h - l; printf "%.2f", o < 0 ? 0 : o }')
    sample "$1" "$2" "$3" other_cpu_s "$other"
    OTHER_CPU=$other
    DISTURBED=$(awk -v o="$other" -v w="$M_WALL" -v f="$DISTURBED_CORES" 'BEGIN { print (o > f * w) ? 1 : 0 }')
}

# Around one load: measure_start before it starts, measure_end after
# `load`; measure_end waits for it and sets M_SERVER_TICKS (the server's CPU
# ticks), M_BENCH_CPU (the load generator's CPU seconds) and M_WALL, and
# records the CPU everything else used meanwhile.
measure_start() {
    M_C0=$(ticks "$SERVER_PID")
    M_B0=$(busy)
    M_T0=$(now)
}

measure_end() {
    local run=$1 test=$2 kind=$3 name=$4 c1 b1
    wait_load "$name"
    M_BENCH_CPU=$LOAD_CPU
    c1=$(ticks "$SERVER_PID")
    b1=$(busy)
    M_WALL=$(elapsed "$M_T0" "$(now)")
    M_SERVER_TICKS=$((c1 - M_C0))
    other_cpu "$run" "$test" "$kind" $((b1 - M_B0 - M_SERVER_TICKS)) "$LOAD_CPU"
}

json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# steal: CPU ticks the hypervisor took from this machine, all CPUs.
steal() { awk '/^cpu / { print $9; exit }' /proc/stat; }

# scrape PORT FILE: sse-server's /metrics into FILE.
scrape() { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" >"$2" || : >"$2"; }

# hist_p99 BEFORE AFTER: the p99 in ms of sse_event_lateness_seconds between
# two scrapes (each file may hold the scrapes of several processes) (linear within a bucket, as Prometheus' histogram_quantile);
# "" when there is nothing to tell.
hist_p99() {
    python3 - "$1" "$2" <<'PY'
import sys
def buckets(path):
    # Several processes' scrapes, one after the other, add up.
    out = {}
    for line in open(path):
        if line.startswith("sse_event_lateness_seconds_bucket{le=\""):
            le = line.split('"')[1]
            le = float("inf") if le == "+Inf" else float(le)
            out[le] = out.get(le, 0) + int(line.split()[-1])
    return out
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
if not b:
    sys.exit()
h = [(le, b[le] - a.get(le, 0)) for le in sorted(b)]
total = h[-1][1]
if total <= 0:
    sys.exit()
want, lo, below = 0.99 * total, 0.0, 0
for le, c in h:
    if c >= want:
        print("" if le == float("inf") else f"{(lo + (le - lo) * (want - below) / max(c - below, 1)) * 1000:.3f}")
        break
    lo, below = le, c
PY
}

# ------------------------------------------------------------------ tests --

# 100,000 streams over several processes (BENCH_TESTS=c100k).
source "$here/c100k.sh"

# 10,000 streams at the default 2500 ms interval: idle RSS, RSS while all
# are open, delivery lateness, CPU.
test_c10k() {
    local run=$1 kind=$2 name="c10k.$1.$2"
    start_server "$kind"
    local idle fd0 test=c10k
    idle=$(rss_kib "$SERVER_PID")
    fd0=$(fds "$SERVER_PID")
    sample "$run" idle "$kind" rss_kib "$idle"
    measure_start
    load "$name" "$C10K_SECS" "$BIN/sse-bench" -c "$STREAMS" --rate 5000 --sources 4 \
        --duration "$C10K_SECS" --port "$PORT" --path /events --interval 2500
    # Wait for all streams to be accepted (or the latest moment that still
    # leaves the settling time), let each send an event, read the RSS.
    local open=0 latest
    latest=$(awk -v d="$C10K_SECS" -v s="$SETTLE_SECS" 'BEGIN { print d - s - 1 }')
    while :; do
        open=$(($(fds "$SERVER_PID") - fd0))
        ((open >= STREAMS)) && break
        awk -v e="$(elapsed "$M_T0" "$(now)")" -v l="$latest" 'BEGIN { exit !(e >= l) }' && break
        sleep 0.2
    done
    local t_open
    t_open=$(elapsed "$M_T0" "$(now)")
    sleep "$SETTLE_SECS"
    local rss steal0
    rss=$(rss_kib "$SERVER_PID")
    open=$(($(fds "$SERVER_PID") - fd0))
    # The server's own lateness from here to the end (all streams open).
    [[ $kind == sse ]] && scrape "$PORT" "$tmp/$name.m0"
    steal0=$(steal)
    # The window ends 1 s before sse-bench does: 10,000 connections closing
    # at once is not the steady state.
    local until
    until=$(awk -v t0="$M_T0" -v s="$C10K_SECS" 'BEGIN { printf "%.3f", t0 + s - 1 }')
    while awk -v u="$until" -v n="$(now)" 'BEGIN { exit !(n < u) }'; do sleep 0.1; done
    [[ $kind == sse ]] && scrape "$PORT" "$tmp/$name.m1"
    sample "$run" c10k "$kind" steal_s "$(secs $(($(steal) - steal0)))"
    measure_end "$run" "$test" "$kind" "$name"
    [[ $kind == sse ]] && sample "$run" c10k "$kind" server_lateness_p99_ms "$(hist_p99 "$tmp/$name.m0" "$tmp/$name.m1")"
    sample "$run" c10k "$kind" rss_idle_kib "$idle"
    sample "$run" c10k "$kind" rss_open_kib "$rss"
    sample "$run" c10k "$kind" hwm_kib "$(hwm_kib "$SERVER_PID")"
    sample "$run" c10k "$kind" open_at_rss "$open"
    sample "$run" c10k "$kind" all_open_after_s "$t_open"
    sample "$run" c10k "$kind" per_stream_bytes "$(((rss - idle) * 1024 / STREAMS))"
    local k
    for k in connected failed events events_per_sec connect_p99_ms lateness_p50_ms lateness_p99_ms \
        lateness_max_ms loop_delay_p99_ms gaps repeats errors early_closes duration_s; do
        sample "$run" c10k "$kind" "$k" "$(json "$tmp/$name.out" "$k")"
    done
    sample "$run" c10k "$kind" server_cpu_s "$(secs $M_SERVER_TICKS)"
    sample "$run" c10k "$kind" bench_cpu_s "$M_BENCH_CPU"
    sample "$run" c10k "$kind" wall_s "$M_WALL"
    stop_server "$run" "$test" "$kind"
    log "run $run c10k $kind: idle ${idle} KiB, ${rss} KiB with $open open," \
        "p99 lateness $(json "$tmp/$name.out" lateness_p99_ms) ms," \
        "server CPU $(secs $M_SERVER_TICKS) s, sse-bench CPU $M_BENCH_CPU s in $M_WALL s"
}

# 1,000 streams, one event per ms each: events/s.
test_eps() {
    local run=$1 kind=$2 name="eps.$1.$2" test=eps
    start_server "$kind"
    sample "$run" idle "$kind" rss_kib "$(rss_kib "$SERVER_PID")"
    local path=/events
    [[ $kind == sse-1ms ]] && path='/events?interval=1'
    measure_start
    load "$name" "$EPS_SECS" "$BIN/sse-bench" -c "$EPS_STREAMS" --rate 5000 --duration "$EPS_SECS" \
        --port "$PORT" --path "$path" --interval 1
    local k
    measure_end "$run" "$test" "$kind" "$name"
    for k in connected failed events events_per_sec bytes_per_sec lateness_p99_ms gaps repeats errors \
        early_closes duration_s; do
        sample "$run" eps "$kind" "$k" "$(json "$tmp/$name.out" "$k")"
    done
    sample "$run" eps "$kind" hwm_kib "$(hwm_kib "$SERVER_PID")"
    sample "$run" eps "$kind" server_cpu_s "$(secs $M_SERVER_TICKS)"
    sample "$run" eps "$kind" bench_cpu_s "$M_BENCH_CPU"
    sample "$run" eps "$kind" wall_s "$M_WALL"
    stop_server "$run" "$test" "$kind"
    log "run $run eps $kind: $(json "$tmp/$name.out" events_per_sec) events/s," \
        "server CPU $(secs $M_SERVER_TICKS) s, sse-bench CPU $M_BENCH_CPU s in $M_WALL s"
}

# wrk -t1 -c50 on GET /.
test_static() {
    local run=$1 kind=$2 name="static.$1.$2" test=static
    start_server "$kind"
    [[ $kind == nginx ]] || sample "$run" idle "$kind" rss_kib "$(rss_kib "$SERVER_PID")"
    local check
    check=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$PORT/")
    [[ $check == 200\ * ]] || die "$kind: GET / answered $check"
    sample "$run" static "$kind" page_bytes "${check#* }"
    measure_start
    load "$name" "$WRK_SECS" wrk -t1 -c50 -d"${WRK_SECS}s" "http://127.0.0.1:$PORT/"
    local out
    measure_end "$run" "$test" "$kind" "$name"
    out=$tmp/$name.out
    local rps non2xx errors
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    errors=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$out")
    [[ -n $rps ]] || { cat "$out" >&2; die "no Requests/sec from wrk"; }
    sample "$run" static "$kind" requests_per_sec "$rps"
    sample "$run" static "$kind" non_2xx "${non2xx:-0}"
    sample "$run" static "$kind" socket_errors "${errors:-0}"
    sample "$run" static "$kind" server_cpu_s "$(secs $M_SERVER_TICKS)"
    sample "$run" static "$kind" bench_cpu_s "$M_BENCH_CPU"
    sample "$run" static "$kind" wall_s "$M_WALL"
    stop_server "$run" "$test" "$kind"
    log "run $run static $kind: $rps req/s, server CPU $(secs $M_SERVER_TICKS) s, wrk CPU $M_BENCH_CPU s"
}

# Fan-out: 10,000 subscribers on one channel, one publisher (sse-bench
# --publish), sse-server (kind sse-pub) or nginx with nchan (kind nchan).
# First 10 publishes/s: latency, and the RSS with the subscribers open; then
# steps of the publish rate for the highest one sustained. Memory and
# descriptors are the worker's for nginx; CPU is the whole server's.

# fanout_run RUN RATE SECS CHANNEL NAME TEST: one sse-bench --publish run,
# measured; sets F_OPEN (connections the server held once all were open)
# and F_RSS (its RSS 2 s later, KiB), and the CPU from then to the end
# (subscribers all open: settling, publishing, draining): F_SERVER_S,
# F_BENCH_S over F_WALL seconds; F_OK (fanout_ok).
fanout_run() {
    local run=$1 rate=$2 secs=$3 channel=$4 name=$5 test=$6 i s1 b1 t1 paths=()
    [[ $FANOUT_KIND == nchan ]] && paths=(--publish-path "/pub/$channel" --subscribe-path "/sub/$channel")
    measure_start
    load "$name" "$secs" "$BIN/sse-bench" --publish "$channel" "${paths[@]}" -c "$FANOUT_SUBS" \
        --connect-rate 5000 --sources 4 --rate "$rate" --duration "$secs" --drain "$FANOUT_DRAIN" --port "$PORT"
    for ((i = 0; i < 100; i++)); do
        F_OPEN=$(($(fds "$FANOUT_MEM_PID") - FANOUT_FD0))
        ((F_OPEN >= FANOUT_SUBS)) && break
        sleep 0.1
    done
    s1=$(ticks "$SERVER_PID")
    b1=$(ticks "$LOAD_CHILD") # timeout(1) and sse-bench, its child
    t1=$(now)
    sleep 2
    F_RSS=$(rss_kib "$FANOUT_MEM_PID")
    LOAD_MAY_FAIL=1 measure_end "$run" "$test" "$FANOUT_KIND" "$name"
    ((DISTURBED)) && FANOUT_DISTURBED=1
    F_SERVER_S=$(secs $((M_C0 + M_SERVER_TICKS - s1)))
    F_BENCH_S=$(awk -v a="$M_BENCH_CPU" -v b="$b1" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", a - b / h }')
    F_WALL=$(awk -v t0="$M_T0" -v w="$M_WALL" -v t1="$t1" 'BEGIN { printf "%.3f", t0 + w - t1 }')
    # 1 when nothing was lost, repeated or failed, and the rate was kept:
    # published ≥ 95 % of rate × secs, delivered at ≥ 95 % of rate ×
    # subscribers per second (so the drain after publishing was short).
    F_OK=$(python3 -c 'import json,sys; j = json.load(open(sys.argv[1])); r, d, n = map(float, sys.argv[2:5])
bad = sum(j[k] for k in ("gaps", "repeats", "failed", "errors", "early_closes", "publish_errors"))
print(int(bad == 0 and j["connected"] == n and j["published"] >= 0.95 * r * d and j["deliveries_per_sec"] >= 0.95 * r * n))' \
        "$tmp/$name.out" "$rate" "$secs" "$FANOUT_SUBS")
    local k prefix=
    [[ $test == fanout_step ]] && prefix="r$rate."
    for k in published delivered deliveries_per_sec publish_latency_p50_ms publish_latency_p99_ms \
        publish_latency_max_ms gaps repeats errors early_closes connected failed; do
        sample "$run" "$test" "$FANOUT_KIND" "$prefix$k" "$(json "$tmp/$name.out" "$k")"
    done
    sample "$run" "$test" "$FANOUT_KIND" "${prefix}ok" "$F_OK"
    sample "$run" "$test" "$FANOUT_KIND" "${prefix}pub_server_cpu_s" "$F_SERVER_S"
    sample "$run" "$test" "$FANOUT_KIND" "${prefix}pub_bench_cpu_s" "$F_BENCH_S"
    sample "$run" "$test" "$FANOUT_KIND" "${prefix}pub_wall_s" "$F_WALL"
    sample "$run" "$test" "$FANOUT_KIND" "${prefix}wall_s" "$M_WALL"
    sample "$run" "$test" "$FANOUT_KIND" "${prefix}other_s" "$OTHER_CPU"
    log "run $run fanout $FANOUT_KIND at $rate/s: $( ((F_OK)) && echo sustained || echo NOT sustained)," \
        "$(json "$tmp/$name.out" deliveries_per_sec) deliveries/s, p99 $(json "$tmp/$name.out" publish_latency_p99_ms) ms," \
        "missed $(json "$tmp/$name.out" gaps); CPU once all were open: server $F_SERVER_S s, sse-bench $F_BENCH_S s in $F_WALL s"
}

test_fanout() {
    local run=$1 kind=$2 test=fanout i
    FANOUT_KIND=$kind FANOUT_DISTURBED=0
    start_server "$kind"
    FANOUT_MEM_PID=$SERVER_PID
    [[ $kind == nchan ]] && FANOUT_MEM_PID=$(pgrep -P "$SERVER_PID" | head -1)
    [[ -n $FANOUT_MEM_PID ]] || die "no nginx worker"
    local idle per
    idle=$(rss_kib "$FANOUT_MEM_PID")
    FANOUT_FD0=$(fds "$FANOUT_MEM_PID")
    fanout_run "$run" 10 "$FANOUT_LAT_SECS" "lat$run" "fanout.$run.$kind.lat" fanout
    sample "$run" fanout "$kind" rss_idle_kib "$idle"
    sample "$run" fanout "$kind" rss_open_kib "$F_RSS"
    sample "$run" fanout "$kind" open_at_rss "$F_OPEN"
    per=$(((F_RSS - idle) * 1024 / FANOUT_SUBS))
    sample "$run" fanout "$kind" per_subscriber_bytes "$per"
    # The rate: doubled from 10 while sustained (halved while not, down to
    # 1), then FANOUT_BISECT geometric bisections of the last bracket; at
    # most FANOUT_MAX_STEPS steps and FANOUT_BUDGET seconds.
    local lo=0 hi=0 rate steps=0 bisections=0 t0=$SECONDS
    ((F_OK)) && lo=10 || hi=10
    declare -A dps=([10]=$(json "$tmp/fanout.$run.$kind.lat.out" deliveries_per_sec))
    while ((steps < FANOUT_MAX_STEPS && SECONDS - t0 < FANOUT_BUDGET)); do
        if ((hi == 0)); then
            rate=$((lo * 2))
        elif ((lo == 0)); then
            ((hi > 1)) || break
            rate=$((hi / 2))
        else
            ((bisections < FANOUT_BISECT)) || break
            rate=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%d", sqrt(a * b) + 0.5 }')
            ((rate > lo && rate < hi)) || break
            bisections=$((bisections + 1))
        fi
        # The last step's subscribers gone first (15 s at most).
        for ((i = 0; i < 75; i++)); do
            (($(fds "$FANOUT_MEM_PID") <= FANOUT_FD0 + 8)) && break
            sleep 0.2
        done
        fanout_run "$run" "$rate" "$FANOUT_STEP_SECS" "r$run-$rate" "fanout.$run.$kind.r$rate" fanout_step
        dps[$rate]=$(json "$tmp/fanout.$run.$kind.r$rate.out" deliveries_per_sec)
        ((F_OK)) && lo=$rate || hi=$rate
        steps=$((steps + 1))
    done
    sample "$run" fanout "$kind" max_rate "$lo"
    sample "$run" fanout "$kind" first_unsustained_rate "$hi"
    sample "$run" fanout "$kind" max_rate_deliveries_per_sec "${dps[$lo]:-0}"
    sample "$run" fanout "$kind" steps "$steps"
    DISTURBED=$FANOUT_DISTURBED
    stop_server "$run" "$test" "$kind"
    log "run $run fanout $kind: highest sustained rate $lo/s (${dps[$lo]:-0} deliveries/s), not $hi/s," \
        "RSS per subscriber $per B (idle ${idle} KiB)"
}

# ---------------------------------------------------------------- machine --
meta started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta quick "$QUICK"
meta runs "$RUNS"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta cpu_mhz "$(awk -F': ' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)"
meta mem_total "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta os "$(. /etc/os-release && echo "$PRETTY_NAME")"
meta rustc "$(rustc --version)"
meta node "$( ((NODE_TESTS)) && node --version || echo "not used")"
meta nginx "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
meta wrk "$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
meta nchan "$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo none)"
meta nofile "$NOFILE"
meta loadavg_at_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta commit "$COMMIT"
meta src_dirty_files "$DIRTY"
meta disturbed_cores "$DISTURBED_CORES"
meta durations "c10k ${C10K_SECS}s, eps ${EPS_SECS}s, wrk ${WRK_SECS}s"
meta fanout "subscribers $FANOUT_SUBS, latency ${FANOUT_LAT_SECS}s at 10/s, steps ${FANOUT_STEP_SECS}s + drain ${FANOUT_DRAIN}s, bisections $FANOUT_BISECT, budget ${FANOUT_BUDGET}s"

# Binary sizes: a stripped copy of each (Debian's node and nginx are already
# stripped; stripping them again changes nothing).
: >"$STAGE"
strip -o "$tmp/sse-server.stripped" "$BIN/sse-server"
sample 0 binary sse size_bytes "$(stat -c %s "$tmp/sse-server.stripped")"
sample 0 binary sse unstripped_bytes "$(stat -c %s "$BIN/sse-server")"
if ((NODE_TESTS)); then
    strip -o "$tmp/node.stripped" "$(readlink -f "$(command -v node)")"
    sample 0 binary node size_bytes "$(stat -c %s "$tmp/node.stripped")"
fi
strip -o "$tmp/nginx.stripped" "$(readlink -f "$NGINX")"
sample 0 binary nginx size_bytes "$(stat -c %s "$tmp/nginx.stripped")"
cat "$STAGE" >>"$SAMPLES"

# Tests wait (within a budget for the whole script) for the machine to be
# quiet, so that other work does not share the 2 cores with a measurement.
QUIET_BUDGET=${BENCH_QUIET_BUDGET:-180}
quiet_spent=0
wait_quiet() {
    local b0 b1 limit=$((CLK_TCK * $(nproc) / 2 / 10)) # 10 % of the CPUs over 0.5 s
    local start=$SECONDS
    while ((quiet_spent + SECONDS - start < QUIET_BUDGET)); do
        b0=$(busy)
        sleep 0.5
        b1=$(busy)
        if ((b1 - b0 <= limit)); then
            quiet_spent=$((quiet_spent + SECONDS - start))
            return 0
        fi
    done
    quiet_spent=$((quiet_spent + SECONDS - start))
    log "warning: the machine is busy with other work; measuring anyway (see \"rest of the machine\")"
}

# measure TEST RUN KIND: waits for quiet, runs the test; a run that other
# work disturbed is done again (up to twice, while time allows), else kept
# with its "rest of the machine" figure showing it.
RETRY_UNTIL=$((LIMIT_SECS / 2))
retries=0
measure() {
    local tries=0
    while :; do
        wait_quiet
        : >"$STAGE"
        DISTURBED=0
        "test_$1" "$2" "$3"
        if ((DISTURBED && tries < 2 && SECONDS < RETRY_UNTIL)); then
            tries=$((tries + 1))
            retries=$((retries + 1))
            log "run $2 $1 $3 was disturbed by other work: again"
            continue
        fi
        cat "$STAGE" >>"$SAMPLES"
        return 0
    done
}

log "$RUNS run(s); durations: $(awk -F'\t' '$1 == "durations" { print $2 }' "$META")"
for ((run = 1; run <= RUNS; run++)); do
    for t in $TESTS; do
        case $t in
        c10k) for k in sse node; do measure c10k "$run" $k; done ;;
        eps) for k in sse-1ms node-1ms; do measure eps "$run" $k; done ;;
        static) for k in sse node nginx; do measure static "$run" $k; done ;;
        fanout) for k in sse-pub nchan; do measure fanout "$run" $k; done ;;
        c100k) measure c100k "$run" sse ;;
        *) die "unknown test $t in BENCH_TESTS" ;;
        esac
    done
done
meta loadavg_at_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta total_seconds "$SECONDS"
meta quiet_wait_seconds "$quiet_spent"
meta retried_tests "$retries"

python3 "$here/summary.py" "$SAMPLES" "$META" "$OUT"
SUMMARISED=1
log "done in $SECONDS s; raw numbers in $OUT/results.json and $OUT/samples.tsv"
