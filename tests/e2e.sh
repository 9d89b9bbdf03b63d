#!/usr/bin/env bash
# End-to-end checks of sse-server with real clients: headless Chromium
# (playwright-core), nginx in front, curl as the README shows it, and the npm
# `eventsource` package. All traffic stays on 127.0.0.1.
#
#   tests/e2e.sh [CHECK...]     run all checks, or the ones named
#
# Checks: curl-count curl-resume curl-index curl-events-head eventsource
#         nginx-prompt nginx-heartbeat browser                  (e2e/run.mjs)
#         channel-two-tabs channel-restart-gap cors-second-origin (e2e/channels.mjs)
#         nginx-restart-browser nginx-subpath failover metrics-promtool (e2e/ops.mjs)
#
# It installs what is missing (apt: chromium nginx curl prometheus (for
# promtool), and nodejs npm when there is no node; npm:
# tests/e2e/package-lock.json into tests/e2e/node_modules, never a browser
# download), builds `cargo build --release` and runs the checks
# against target/release/sse-server (SSE_SERVER_BIN=path runs them against
# another binary and skips the build). Server logs, nginx's error log and the
# browser screenshots (page.png, channel-tab1.png, ...) land in target/e2e/.
# Every process it starts is ended on exit. The last line is "N passed, N
# failed"; the exit code is 0 only when nothing failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib.sh
. "$ROOT/tests/lib.sh"
E2E=$ROOT/tests/e2e
ARTIFACTS=$ROOT/target/e2e
ALL_CHECKS=(curl-count curl-resume curl-index curl-events-head eventsource nginx-prompt nginx-heartbeat browser
    channel-two-tabs channel-restart-gap cors-second-origin
    nginx-restart-browser nginx-subpath failover metrics-promtool)
CHECK_TIMEOUT=90 # seconds, per check; they take 1 to 25 s
CHROMIUM_BIN=/usr/bin/chromium

passed=0
failed=0
failed_names=()
started=$SECONDS

summary() {
    if ((failed)); then
        echo "e2e: failed: ${failed_names[*]} (logs in $ARTIFACTS)"
    fi
    echo "e2e: $((SECONDS - started)) s"
    echo "$passed passed, $failed failed"
}

# A step before the checks could not be done: say so, count it, stop.
fatal() {
    echo "FAIL $1: $2" >&2
    failed=$((failed + 1))
    failed_names+=("$1")
    summary
    exit 1
}

# --- cleanup: end every process this run started ---------------------------

TMP=
RUNNER_PID=

# Processes of this run still alive: those the runner listed in $TMP/pids
# (servers, nginx), those with the run's private temp dir in their command
# line (chromium's --user-data-dir, nginx -p), and an nginx worker holding a
# log file there (its command line is rewritten).
leftovers() {
    local pid cmd
    if [[ -f $TMP/pids ]]; then
        while IFS=$'\t' read -r pid cmd; do
            [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == "$cmd "* ]] && echo "$pid"
        done <"$TMP/pids"
    fi
    run_dir_procs
}

cleanup() {
    local pids
    if [[ -n $RUNNER_PID ]] && kill -0 "$RUNNER_PID" 2>/dev/null; then
        # The runner (node) ends its servers, nginx and chromium on SIGTERM.
        kill -TERM "$RUNNER_PID"
        for _ in $(seq 50); do kill -0 "$RUNNER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RUNNER_PID" 2>/dev/null
    fi
    if [[ -n $TMP && -d $TMP ]]; then
        pids=$(leftovers)
        if [[ -n $pids ]]; then
            kill -TERM $pids # nginx's master stops its worker on SIGTERM
            for _ in $(seq 20); do pids=$(leftovers); [[ -z $pids ]] && break; sleep 0.1; done
            [[ -n $pids ]] && kill -KILL $pids
        fi
        rm -rf "$TMP"
        TMP=
    fi
}
# On INT/TERM: end everything, count the check that was running as failed,
# and still end with the summary line.
CURRENT=
interrupted() {
    echo "e2e: got SIG$1, stopping" >&2
    cleanup 2>/dev/null
    if [[ -n $CURRENT ]]; then
        echo "FAIL $CURRENT: interrupted by SIG$1"
        failed=$((failed + 1))
        failed_names+=("$CURRENT")
    fi
    summary
    exit "$2"
}
trap 'cleanup 2>/dev/null' EXIT
trap 'interrupted INT 130' INT
trap 'interrupted TERM 143' TERM

CHECKS=("$@")
if ((${#CHECKS[@]} == 0)); then CHECKS=("${ALL_CHECKS[@]}"); fi
for c in "${CHECKS[@]}"; do
    [[ " ${ALL_CHECKS[*]} " == *" $c "* ]] || { echo "unknown check: $c (checks: ${ALL_CHECKS[*]})" >&2; exit 2; }
done

# --- what the checks need ---------------------------------------------------

echo "e2e: checking tools"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
missing=()
command -v curl >/dev/null || missing+=(curl)
[[ -x $CHROMIUM_BIN ]] || missing+=(chromium)
[[ -x $NGINX_BIN ]] || missing+=(nginx)
command -v promtool >/dev/null || missing+=(prometheus) # Debian's prometheus package has promtool
{ command -v node && command -v npm; } >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
    echo "e2e: installing ${missing[*]} with apt-get"
    SUDO=
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || fatal install "need root or sudo to install ${missing[*]}"
        SUDO=sudo
    fi
    $SUDO apt-get update -qq || fatal install "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || fatal install "apt-get install ${missing[*]} failed"
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
fi
PROMTOOL_BIN=$(command -v promtool) || fatal install "no promtool after installing prometheus"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
((node_major >= 20)) || fatal install "node $(node --version 2>/dev/null) is too old: playwright-core and eventsource need node 20 or later"

# npm packages, exactly as locked. playwright-core is used with the system
# chromium only: no browser is ever downloaded (no install scripts run).
if [[ ! -f $E2E/node_modules/.package-lock.json || $E2E/package-lock.json -nt $E2E/node_modules/.package-lock.json ]]; then
    echo "e2e: npm ci in tests/e2e"
    (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
        || fatal install "npm ci in $E2E failed"
fi

# --- the server ---------------------------------------------------------------

if [[ -n ${SSE_SERVER_BIN:-} ]]; then
    echo "e2e: using SSE_SERVER_BIN=$SSE_SERVER_BIN (no build)"
else
    echo "e2e: cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet) || fatal build "cargo build --release failed"
    SSE_SERVER_BIN=$ROOT/target/release/sse-server
fi
[[ -x $SSE_SERVER_BIN ]] || fatal build "no executable at $SSE_SERVER_BIN"

# --- the checks ---------------------------------------------------------------

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS" || fatal setup "cannot create $ARTIFACTS"
TMP=$(mktemp -d -t sse-e2e.XXXXXX) || fatal setup "mktemp failed"
chmod 711 "$TMP" # nginx's worker (user nobody when run as root) reaches its prefix inside

export SSE_SERVER_BIN NGINX_BIN CHROMIUM_BIN PROMTOOL_BIN
# The failover check holds 1,000 streams through nginx: a few thousand
# descriptors in node and nginx. Raise the soft limit as far as allowed.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export SSE_E2E_WWW=$ROOT/www SSE_E2E_ARTIFACTS=$ARTIFACTS SSE_E2E_TMP=$TMP
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

for c in "${CHECKS[@]}"; do
    echo "--- $c"
    CURRENT=$c
    case $c in
        channel-* | cors-*) runner=$E2E/channels.mjs ;;
        nginx-restart-browser | nginx-subpath | failover | metrics-*) runner=$E2E/ops.mjs ;;
        *) runner=$E2E/run.mjs ;;
    esac
    timeout -k 5 "$CHECK_TIMEOUT" node "$runner" "$c" &
    RUNNER_PID=$!
    wait "$RUNNER_PID"
    rc=$?
    RUNNER_PID=
    CURRENT=
    if ((rc == 0)); then
        passed=$((passed + 1))
    else
        case $rc in
            1) ;; # the runner printed "FAIL <check>: <step>: <reason>"
            124) echo "FAIL $c: did not finish in $CHECK_TIMEOUT s" ;;
            137) echo "FAIL $c: the runner was killed (or did not finish in $CHECK_TIMEOUT s)" ;;
            *) echo "FAIL $c: runner exited with status $rc" ;;
        esac
        failed=$((failed + 1))
        failed_names+=("$c")
    fi
done

summary
((failed == 0))
