#!/usr/bin/env bash
# The compatibility matrix: every sse-server scenario against real SSE
# clients, each whole session compared with /scenarios/NAME/expected, and
# the result written to COMPAT.md. All traffic stays on 127.0.0.1.
#
#   tests/compat.sh [CLIENT...]    run every client, or the ones named
#
# Clients: chromium firefox eventsource python sse-bench nginx
#   chromium     Debian's chromium, its EventSource, driven by playwright-core
#   firefox      Debian's firefox-esr, its EventSource, driven by puppeteer-core (WebDriver BiDi)
#   eventsource  the npm `eventsource` package, from Node
#   python       httpx-sse with httpx (the harness reconnects as EventSource does)
#   sse-bench    `sse-bench --session`, when the build has it
#   nginx        nginx in front (proxy_buffering on): are the bytes passed through as they are?
#
# It installs what is missing (apt: chromium firefox-esr nginx, nodejs npm
# when there is no node, python3-venv when venv fails; npm:
# tests/compat/package-lock.json into tests/compat/node_modules, never a
# browser download; PyPI: tests/compat/requirements.txt into
# target/compat/venv), builds `cargo build --release` and runs each client
# against an sse-server of its own (SSE_SERVER_BIN=path uses another binary
# and skips the build; SSE_BENCH_BIN likewise). Clients run in parallel, at
# most COMPAT_JOBS (3) at once, each bounded by CLIENT_TIMEOUT seconds, each
# session inside by 12 s. Logs and raw results land in target/compat/.
# COMPAT_ONLY="basic eol-cr" runs those scenarios only (for debugging).
#
# Exit code: 1 when Chromium or sse-bench differs from the expectation on a
# scenario that tests/compat/known-divergences.json does not list for it (or
# could not be run), else 0. Firefox, the npm package, Python and nginx are
# reported, never fatal. The last line is "N passed, N failed" (gated
# client-scenario pairs).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh
. "$ROOT/tests/lib.sh"
COMPAT=$ROOT/tests/compat
OUT=$ROOT/target/compat
ALL_CLIENTS=(nginx python eventsource chromium firefox sse-bench) # the order they start in
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-300}                              # seconds, per client; they take 3 to 30 s
JOBS=${COMPAT_JOBS:-3}
CHROMIUM_BIN=/usr/bin/chromium
FIREFOX_BIN=/usr/bin/firefox-esr
started=$SECONDS

say() { echo "compat: $*"; }
fatal() {
    echo "FAIL $1: $2" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# --- cleanup: end every process this run started ---------------------------

TMP=
PIDS=() # servers, nginx and runners started here, ended by pid

# One scan for the processes this run left (run_dir_procs, tests/lib.sh),
# bounded: reading /proc/PID/cmdline can block for a while on a process of
# someone else's that is busy exiting.
scan() {
    TMP=$TMP timeout -k 1 5 bash -c "$(declare -f run_dir_procs); run_dir_procs" 2>/dev/null
}

cleanup() {
    local pid pids
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null # nginx's master stops its worker; runners close their browser
    done
    for _ in $(seq 30); do
        pids=
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && pids+=" $pid"; done
        [[ -z $pids ]] && break
        sleep 0.1
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
    PIDS=()
    if [[ -n $TMP && -d $TMP ]]; then
        pids=$(scan)
        if [[ -n $pids ]]; then
            kill -TERM $pids
            for _ in 1 2 3; do sleep 0.5; pids=$(scan); [[ -z $pids ]] && break; done
            [[ -n $pids ]] && kill -KILL $pids
        fi
        rm -rf "$TMP"
        TMP=
    fi
}
trap 'cleanup 2>/dev/null' EXIT
trap 'say "got SIGINT, stopping"; cleanup 2>/dev/null; echo "0 passed, 1 failed"; exit 130' INT
trap 'say "got SIGTERM, stopping"; cleanup 2>/dev/null; echo "0 passed, 1 failed"; exit 143' TERM

CLIENTS=("$@")
if ((${#CLIENTS[@]} == 0)); then CLIENTS=("${ALL_CLIENTS[@]}"); fi
for c in "${CLIENTS[@]}"; do
    [[ " ${ALL_CLIENTS[*]} " == *" $c "* ]] || { echo "unknown client: $c (clients: ${ALL_CLIENTS[*]})" >&2; exit 2; }
done
wants() { [[ " ${CLIENTS[*]} " == *" $1 "* ]]; }

# --- what the clients need ----------------------------------------------------

say "checking tools"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
missing=()
if wants chromium && [[ ! -x $CHROMIUM_BIN ]]; then missing+=(chromium); fi
if wants firefox && [[ ! -x $FIREFOX_BIN ]]; then missing+=(firefox-esr); fi
if wants nginx && [[ ! -x $NGINX_BIN ]]; then missing+=(nginx); fi
{ command -v node && command -v npm; } >/dev/null || missing+=(nodejs npm)
PYTHON=$(command -v python3 || echo /usr/bin/python3)
if wants python && ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    missing+=(python3 python3-venv)
    PYTHON=/usr/bin/python3
fi
SUDO=
if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt-get"
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || fatal install "need root or sudo to install ${missing[*]}"
        SUDO=sudo
    fi
    $SUDO apt-get update -qq || fatal install "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || fatal install "apt-get install ${missing[*]} failed"
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((node_major >= 20)) || fatal install "node $(node --version 2>/dev/null) is too old: the runners need node 20 or later"

# npm packages, exactly as locked; no install scripts run, so playwright-core
# and puppeteer-core never download a browser: they drive Debian's.
if [[ ! -f $COMPAT/node_modules/.package-lock.json || $COMPAT/package-lock.json -nt $COMPAT/node_modules/.package-lock.json ]]; then
    say "npm ci in tests/compat"
    (cd "$COMPAT" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
        npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || fatal install "npm ci in $COMPAT failed"
fi

# The Python client, pinned, in a venv under target/ (made again when
# requirements.txt changes).
VENV=$OUT/venv
if wants python && ! cmp -s "$COMPAT/requirements.txt" "$VENV/.requirements.txt"; then
    say "pip install -r tests/compat/requirements.txt into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || fatal install "$PYTHON -m venv $VENV failed"
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$COMPAT/requirements.txt" \
        || fatal install "pip install -r $COMPAT/requirements.txt failed"
    cp "$COMPAT/requirements.txt" "$VENV/.requirements.txt"
fi

# --- the server ---------------------------------------------------------------

if [[ -n ${SSE_SERVER_BIN:-} ]]; then
    say "using SSE_SERVER_BIN=$SSE_SERVER_BIN (no build)"
else
    say "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet) || fatal build "cargo build --release failed"
    SSE_SERVER_BIN=$ROOT/target/release/sse-server
fi
SSE_BENCH_BIN=${SSE_BENCH_BIN:-$(dirname "$SSE_SERVER_BIN")/sse-bench}
[[ -x $SSE_SERVER_BIN ]] || fatal build "no executable at $SSE_SERVER_BIN"

rm -rf "$OUT/results" "$OUT"/*.log
mkdir -p "$OUT/results" || fatal setup "cannot create $OUT"
TMP=$(mktemp -d -t sse-compat.XXXXXX) || fatal setup "mktemp failed"
chmod 711 "$TMP" # nginx's worker (user nobody when run as root) reaches its prefix inside

# Starts an sse-server on a free port, serving tests/compat/www (the
# browsers' page), logging to $OUT/NAME.server.log; sets PORT.
start_server() {
    local name=$1 out=$TMP/$1.server.out pid
    "$SSE_SERVER_BIN" --port 0 --www "$COMPAT/www" >"$out" 2>"$OUT/$name.server.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do
        if [[ -s $out ]]; then break; fi
        kill -0 "$pid" 2>/dev/null || fatal setup "sse-server for $name exited: $(tail -3 "$OUT/$name.server.log")"
        sleep 0.05
    done
    PORT=$(sed -nE 's#^listening on http://127\.0\.0\.1:([0-9]+)/$#\1#p' "$out")
    [[ -n $PORT ]] || fatal setup "sse-server for $name printed no 'listening on' line"
}

# Starts nginx in front of port $1 (tests/compat/nginx.conf.template); sets NGINX_PORT.
start_nginx() {
    local upstream=$1 prefix pid attempt
    for attempt in 1 2 3; do
        prefix=$(mktemp -d "$TMP/nginx-XXXXXX")
        chmod 755 "$prefix"
        NGINX_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
        sed -e "s#@PREFIX@#$prefix#g" -e "s#@PORT@#$NGINX_PORT#g" -e "s#@UPSTREAM_PORT@#$upstream#g" \
            "$COMPAT/nginx.conf.template" >"$prefix/nginx.conf"
        "$NGINX_BIN" -e "$prefix/error.log" -p "$prefix" -c "$prefix/nginx.conf" -g 'daemon off;' &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 50); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null; then
                say "nginx (pid $pid) on 127.0.0.1:$NGINX_PORT -> 127.0.0.1:$upstream"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        cp "$prefix/error.log" "$OUT/nginx.error.log" 2>/dev/null
        grep -q 'Address already in use' "$prefix/error.log" 2>/dev/null || break
    done
    return 1
}

export COMPAT_OUT=$OUT COMPAT_TMP=$TMP CHROMIUM_BIN FIREFOX_BIN NGINX_BIN SSE_BENCH_BIN
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1

# The reference: the index and every expectation, saved once.
start_server reference
SSE_URL=http://127.0.0.1:$PORT node "$COMPAT/prepare.mjs" || fatal prepare "could not read /scenarios and the expectations"

# --- the clients, in parallel ---------------------------------------------------

# Runs one client's runner in the background with its own server, output
# in $OUT/CLIENT.log; RUNNERS maps pid -> client.
declare -A RUNNERS=()
run_client() {
    local c=$1 cmd
    start_server "$c"
    export SSE_URL=http://127.0.0.1:$PORT
    case $c in
        chromium | firefox) cmd=(node "$COMPAT/run-browser.mjs" "$c") ;;
        eventsource) cmd=(node "$COMPAT/run-eventsource.mjs") ;;
        python) cmd=("$VENV/bin/python" "$COMPAT/run-python.py") ;;
        sse-bench) cmd=(node "$COMPAT/run-ssebench.mjs") ;;
        nginx)
            start_nginx "$PORT" || { echo "FAIL nginx: could not start nginx (see $OUT/nginx.error.log)" >"$OUT/$c.log"; return; }
            export NGINX_URL=http://127.0.0.1:$NGINX_PORT
            cmd=(node "$COMPAT/run-nginx.mjs")
            ;;
    esac
    timeout -k 5 "$CLIENT_TIMEOUT" "${cmd[@]}" >"$OUT/$c.log" 2>&1 &
    RUNNERS[$!]=$c
    PIDS+=("$!")
    say "started $c (pid $!, server on port $PORT)"
}

# Waits for one runner to end and shows its output.
reap() {
    local pid rc c
    wait -n -p pid "${!RUNNERS[@]}"
    rc=$?
    c=${RUNNERS[$pid]}
    unset "RUNNERS[$pid]"
    echo "--- $c (exit $rc$( ((rc == 124 || rc == 137)) && echo ": did not finish in $CLIENT_TIMEOUT s"))"
    cat "$OUT/$c.log"
}

for c in "${ALL_CLIENTS[@]}"; do
    wants "$c" || continue
    while ((${#RUNNERS[@]} >= JOBS)); do reap; done
    run_client "$c"
done
while ((${#RUNNERS[@]} > 0)); do reap; done
cleanup 2>/dev/null

# --- the report and the gate -----------------------------------------------------

wall=$((SECONDS - started))
cat >"$OUT/run.json" <<EOF
{"date": "$(date -u +%Y-%m-%d)", "server": "$("$SSE_SERVER_BIN" --version 2>/dev/null)", "wallSeconds": $wall,
 "machine": "$(nproc) cores, $(. /etc/os-release && echo "$PRETTY_NAME")"}
EOF
say "$wall s before the report"
# The report's last line is "compat: N passed, N failed" (gated pairs).
COMPAT_MD=$ROOT/COMPAT.md COMPAT_CLIENTS="${CLIENTS[*]}" node "$COMPAT/report.mjs"
