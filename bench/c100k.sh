# The c100k test of bench/run.sh (sourced by it; BENCH_TESTS=c100k): 100,000
# streams at the default 2500 ms interval on this machine.
#
# One process may hold 20,000 descriptors here (the hard limit), so the
# streams are spread over C100K_SERVERS sse-server processes sharing the
# port (--reuse-port; each with a --metrics-port of its own to be scraped
# alone) and over as many sse-bench processes, each connecting from
# C100K_SOURCES source addresses (127.0.0.1 ... 127.0.0.K: one address has
# ~28,000 ephemeral ports towards one server port).
#
# What it reports, per run:
# - RSS: the servers' total, idle and with every stream open, and the
#   difference per stream (user space);
# - kernel memory: the growth of the TCP socket buffers (/proc/net/sockstat
#   "mem", pages) and of the slab caches that hold a connection (the TCP
#   socket, its inode, its file, its epoll entry: /proc/slabinfo, which
#   needs root; "" without it) per stream. Both ends of each stream are on
#   this machine, so these count the client's socket too: a server alone
#   needs about half. (Open connections are counted from /metrics, not by
#   listing /proc/PID/fd, whose 100,000 inodes would count too.);
# - lateness: the servers' own p99 (their sse_event_lateness_seconds
#   histograms added up, from when all streams are open to the end), the
#   sse-benches' p99 (the median and the worst of the processes) and their
#   own loop delay p99;
# - CPU: the servers' share of a core with every stream open, events
#   flowing, and with no stream at all (idle: the poll sleeps);
# - streams connected, failed, early closes, gaps and repeats.

C100K_STREAMS=${C100K_STREAMS:-100000}
C100K_SERVERS=${C100K_SERVERS:-6}
C100K_SOURCES=${C100K_SOURCES:-8}
C100K_RATE=${C100K_RATE:-1500}  # connects per second, per sse-bench
C100K_STEADY=${C100K_STEADY:-20} # seconds measured once all are open
C100K_IDLE=${C100K_IDLE:-5}      # seconds of idle CPU before any client

sockstat_pages() { awk '/^TCP:/ { for (i = 2; i < NF; i++) if ($i == "mem") print $(i + 1) }' /proc/net/sockstat; }
# Bytes in the slab caches of a connection's kernel objects.
slab_bytes() {
    # Readable by root only: nothing (not 0) when it cannot be read.
    [[ -r /proc/slabinfo ]] || { echo ""; return; }
    awk '$1 == "TCP" || $1 == "TCPv6" || $1 == "sock_inode_cache" || $1 == "filp" || $1 == "eventpoll_epi" {
        s += $2 * $4 } END { print s + 0 }' /proc/slabinfo 2>/dev/null || echo ""
}
# open_streams PORT...: the sum of sse_open_streams of the servers.
open_streams() {
    local p s=0 v
    for p in "$@"; do
        v=$(curl -s --max-time 2 "http://127.0.0.1:$p/metrics" | awk '/^sse_open_streams / { print $2 }')
        s=$((s + ${v:-0}))
    done
    echo $s
}

test_c100k() {
    local run=$1 kind=$2 name="c100k.$1" test=c100k
    local n=$C100K_STREAMS k=$C100K_SERVERS per=$((C100K_STREAMS / C100K_SERVERS))
    free_port
    local port=$PORT i pids=() mports=()
    for ((i = 0; i < k; i++)); do
        free_port
        mports+=("$PORT")
        "$BIN/sse-server" --reuse-port --port "$port" --metrics-port "$PORT" --log-level warn \
            --www "$SRC/www" >"$tmp/$name.s$i.out" 2>"$tmp/$name.s$i.err" &
        pids+=($!)
        PIDS+=($!)
    done
    PORT=$port
    for ((i = 0; i < k; i++)); do
        local t
        for ((t = 0; t < 200; t++)); do
            kill -0 "${pids[$i]}" 2>/dev/null || { cat "$tmp/$name.s$i.err" >&2; die "sse-server $i exited at start"; }
            ss -Htln "( sport = :${mports[$i]} )" | grep -q . && break
            sleep 0.05
        done
        ((t < 200)) || die "sse-server $i is not listening after 10 s"
    done
    sleep 1
    local sum_rss sum_ticks
    sum_rss() { local p s=0; for p in "${pids[@]}"; do s=$((s + $(rss_kib "$p"))); done; echo $s; }
    sum_ticks() { local p s=0; for p in "${pids[@]}"; do s=$((s + $(ticks "$p"))); done; echo $s; }
    local idle_rss idle_t0 idle_t1 sock0 slab0
    idle_rss=$(sum_rss)
    # Idle: no client at all.
    idle_t0=$(sum_ticks)
    sleep "$C100K_IDLE"
    idle_t1=$(sum_ticks)
    sock0=$(sockstat_pages)
    slab0=$(slab_bytes)
    # The clients: one sse-bench per server, each its share of the streams.
    local secs=$((per / C100K_RATE + 8 + C100K_STEADY)) b loads=()
    M_T0=$(now)
    for ((b = 0; b < k; b++)); do
        local count=$per
        ((b == k - 1)) && count=$((n - per * (k - 1)))
        load "$name.b$b" "$secs" "$BIN/sse-bench" -c "$count" --rate "$C100K_RATE" --sources "$C100K_SOURCES" \
            --duration "$secs" --port "$port" --path /events --interval 2500
        loads+=("$LOAD_PID:$LOAD_CHILD")
    done
    # Every stream open (or the latest moment that leaves the steady part).
    local open=0 latest=$((secs - C100K_STEADY))
    while :; do
        open=$(open_streams "${mports[@]}")
        ((open >= n)) && break
        awk -v e="$(elapsed "$M_T0" "$(now)")" -v l="$latest" 'BEGIN { exit !(e >= l) }' && break
        sleep 0.5
    done
    local t_open
    t_open=$(elapsed "$M_T0" "$(now)")
    sleep 3 # each stream has sent an event
    local rss sock slab steal0 busy_t0 wall0
    open=$(open_streams "${mports[@]}") # with the memory, not before the wait
    rss=$(sum_rss)
    sock=$(sockstat_pages)
    slab=$(slab_bytes)
    for ((i = 0; i < k; i++)); do scrape "${mports[$i]}" "$tmp/$name.m0.$i"; done
    steal0=$(steal)
    busy_t0=$(sum_ticks)
    wall0=$(now)
    # The window ends 1 s before the load generators do: their closing
    # 100,000 connections at once is not the steady state.
    local until
    until=$(awk -v t0="$M_T0" -v s="$secs" 'BEGIN { printf "%.3f", t0 + s - 1 }')
    while awk -v u="$until" -v n="$(now)" 'BEGIN { exit !(n < u) }'; do sleep 0.2; done
    local busy_t1 wall
    busy_t1=$(sum_ticks)
    wall=$(elapsed "$wall0" "$(now)")
    for ((i = 0; i < k; i++)); do scrape "${mports[$i]}" "$tmp/$name.m1.$i"; done
    sample "$run" c100k sse steal_s "$(secs $(($(steal) - steal0)))"
    # The load generators end on their own at --duration.
    local entry
    for entry in "${loads[@]}"; do
        LOAD_PID=${entry%%:*}
        LOAD_CHILD=${entry##*:}
        wait_load_quiet "$LOAD_PID" "$LOAD_CHILD"
    done
    M_WALL=$(elapsed "$M_T0" "$(now)")
    sample "$run" c100k sse servers "$k"
    sample "$run" c100k sse all_open_after_s "$t_open"
    sample "$run" c100k sse rss_idle_kib "$idle_rss"
    sample "$run" c100k sse rss_open_kib "$rss"
    # Per stream: over the streams open when memory was read (all of them,
    # unless some failed to connect).
    local m=$((open > 0 ? open : n))
    sample "$run" c100k sse streams_open_when_measured "$open"
    sample "$run" c100k sse per_stream_bytes "$(((rss - idle_rss) * 1024 / m))"
    sample "$run" c100k sse kernel_socket_buffers_per_stream_bytes "$(((sock - sock0) * 4096 / m))"
    [[ -n $slab && -n $slab0 ]] && sample "$run" c100k sse kernel_slab_per_stream_bytes "$(((slab - slab0) / m))"
    sample "$run" c100k sse cpu_idle_pct "$(awk -v t=$((idle_t1 - idle_t0)) -v h="$CLK_TCK" -v s="$C100K_IDLE" \
        'BEGIN { printf "%.2f", 100 * t / h / s }')"
    sample "$run" c100k sse cpu_streaming_pct "$(awk -v t=$((busy_t1 - busy_t0)) -v h="$CLK_TCK" -v s="$wall" \
        'BEGIN { printf "%.1f", 100 * t / h / s }')"
    cat "$tmp/$name".m0.* >"$tmp/$name.m0"
    cat "$tmp/$name".m1.* >"$tmp/$name.m1"
    sample "$run" c100k sse server_lateness_p99_ms "$(hist_p99 "$tmp/$name.m0" "$tmp/$name.m1")"
    python3 - "$tmp/$name" "$k" >"$tmp/$name.sum" <<'PY'
import json, statistics, sys
base, k = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{base}.b{b}.out")) for b in range(k)]
total = lambda key: sum(r[key] for r in runs)
p99 = [r["lateness_p99_ms"] for r in runs]
loop = [r["loop_delay_p99_ms"] for r in runs]
for key in ("connected", "failed", "events", "gaps", "repeats", "early_closes", "errors"):
    print(key, total(key))
print("lateness_p99_ms", statistics.median(p99))
print("lateness_p99_worst_ms", max(p99))
print("loop_delay_p99_ms", statistics.median(loop))
print("events_per_sec", sum(r["events_per_sec"] for r in runs))
PY
    local key value
    while read -r key value; do sample "$run" c100k sse "$key" "$value"; done <"$tmp/$name.sum"
    for ((i = 0; i < k; i++)); do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
    done
    for ((i = 0; i < k; i++)); do
        wait "${pids[$i]}" 2>/dev/null || true
        forget "${pids[$i]}"
    done
    local warnings
    warnings=$(cat "$tmp/$name".s*.err | grep -cE '(WARN|ERROR)' || true)
    sample "$run" c100k sse log_warnings "${warnings:-0}"
    log "run $run c100k: $(awk '$1 == "connected" { print $2 }' "$tmp/$name.sum") streams on $k processes" \
        "after ${t_open} s; RSS ${idle_rss} -> ${rss} KiB; kernel +$(((sock - sock0) * 4)) KiB buffers," \
        "+$(((${slab:-0} - ${slab0:-0}) / 1024)) KiB slab; server p99 $(hist_p99 "$tmp/$name.m0" "$tmp/$name.m1") ms"
}

# wait_load_quiet PID CHILD: waits for one of several loads started with
# `load`, failing the test if it failed.
wait_load_quiet() {
    local rc=0
    wait "$1" || rc=$?
    forget "$1"
    forget "$2"
    ((rc == 0)) || die "an sse-bench of c100k failed (exit $rc)"
}
