#!/usr/bin/env python3
"""Summarises the samples of bench/run.sh: medians over runs, the markdown
table (printed, and written to OUT/results.md) and OUT/results.json.

Usage: summary.py SAMPLES.tsv META.tsv OUT_DIR
SAMPLES.tsv: run, test, server, key, value (tab-separated, no header).
META.tsv: key, value.
"""

import json
import statistics
import sys
from collections import defaultdict

samples_path, meta_path, out_dir = sys.argv[1:4]

meta = {}
with open(meta_path) as f:
    for line in f:
        key, _, value = line.rstrip("\n").partition("\t")
        meta[key] = value

rows = []
values = defaultdict(list)  # (test, server, key) -> [values in run order]
with open(samples_path) as f:
    for line in f:
        run, test, server, key, value = line.rstrip("\n").split("\t")
        value = float(value)
        rows.append({"run": int(run), "test": test, "server": server, "key": key, "value": value})
        values[(test, server, key)].append(value)

# The sse-1ms and node-1ms servers are the same programs: their idle RSS
# counts with the others.
idle = defaultdict(list)
for (test, server, key), vs in values.items():
    if test == "idle":
        idle[server.removesuffix("-1ms")].extend(vs)


def med(test, server, key):
    vs = values.get((test, server, key))
    return statistics.median(vs) if vs else None


def runs(test, server, key):
    return values.get((test, server, key), [])


medians = {f"{t}/{s}/{k}": statistics.median(vs) for (t, s, k), vs in sorted(values.items())}
medians.update({f"idle/{s}/rss_kib (all starts)": statistics.median(vs) for s, vs in idle.items()})


def fmt(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 1000 and digits <= 1:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def met(ok, *values):
    if any(v is None for v in values):
        return "not measured"
    return "met" if ok else "**missed**"


lines = []
out = lines.append

idle_sse = statistics.median(idle["sse"]) / 1024 if idle.get("sse") else None
idle_node = statistics.median(idle["node"]) / 1024 if idle.get("node") else None
ps_sse_raw = med("c10k", "sse", "per_stream_bytes")
ps_sse = ps_sse_raw / 1024 if ps_sse_raw is not None else None
ps_node = (med("c10k", "node", "per_stream_bytes") or 0) / 1024
if med("c10k", "node", "per_stream_bytes") is None:
    ps_node = None
eps_sse = med("eps", "sse-1ms", "events_per_sec")
eps_node = med("eps", "node-1ms", "events_per_sec")
lat_sse = med("c10k", "sse", "lateness_p99_ms")
lat_node = med("c10k", "node", "lateness_p99_ms")
rps_sse = med("static", "sse", "requests_per_sec")
rps_node = med("static", "node", "requests_per_sec")
rps_nginx = med("static", "nginx", "requests_per_sec")
bin_sse = med("binary", "sse", "size_bytes")
bin_node = med("binary", "node", "size_bytes")
bin_nginx = med("binary", "nginx", "size_bytes")
n_runs = int(meta.get("runs", "0"))

out(f"Medians of {n_runs} run(s){' (QUICK mode: shorter durations)' if meta.get('quick') == '1' else ''}; "
    f"{meta.get('nproc')} × {meta.get('cpu')}, {meta.get('kernel')}, commit {meta.get('commit')}"
    f"{' (the working tree had ' + meta['src_dirty_files'] + ' uncommitted change(s) in src, Cargo.*, .cargo or www)' if meta.get('src_dirty_files', '0') != '0' else ''}.")
if meta.get("partial") == "1":
    out("")
    out("**Partial: the script stopped before the end; these are the samples taken so far.**")
busy = [(t, srv, r["run"], r["value"]) for r in rows for t, srv in [(r["test"], r["server"])]
        if r["key"] == "other_cpu_s"]
limit = float(meta.get("disturbed_cores", "0.1"))
walls = {(r["test"], r["server"], r["run"]): r["value"] for r in rows if r["key"] == "wall_s"}
disturbed = [f"{t}/{srv} run {run} ({v:.1f} s in {walls[(t, srv, run)]:.1f} s)" for t, srv, run, v in busy
             if (t, srv, run) in walls and v > limit * walls[(t, srv, run)]]
if disturbed:
    out("")
    out(f"**Warning: other work used more than {limit:g} of a core during " + ", ".join(disturbed) +
        " (kept after retries); those numbers are not clean.**")
# The tables of c10k, eps and static, dropped below when none of them ran.
classic_from = len(lines)
out("")
out("| measure | sse-server | Node demo | nginx, 1 worker | sse-server ÷ Node | sse-server ÷ nginx | target | |")
out("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
out(f"| idle RSS, MiB | {fmt(idle_sse, 2)} | {fmt(idle_node, 1)} | | {fmt(ratio(idle_sse, idle_node), 3)} | "
    f"| ≤ 1.5 MiB | {met(idle_sse is not None and idle_sse <= 1.5, idle_sse)} |")
out(f"| RSS per idle stream at 10,000 streams, KiB | {fmt(ps_sse, 2)} | {fmt(ps_node, 1)} | | "
    f"{fmt(ratio(ps_sse, ps_node), 3)} | | ≤ 1 KiB | {met(ps_sse is not None and ps_sse <= 1.0, ps_sse_raw)} |")
out(f"| events/s, 1,000 streams × 1 ms | {fmt(eps_sse)} | {fmt(eps_node)} | | {fmt(ratio(eps_sse, eps_node), 2)} | "
    f"| ≥ 2.5 × Node | {met((ratio(eps_sse, eps_node) or 0) >= 2.5, eps_sse, eps_node)} |")
out(f"| p99 lateness, 10,000 streams × 2500 ms, ms | {fmt(lat_sse, 3)} | {fmt(lat_node, 3)} | | "
    f"{fmt(ratio(lat_sse, lat_node), 3)} | | ≤ 1 ms | {met(lat_sse is not None and lat_sse <= 1.0, lat_sse)} |")
out(f"| static GET /, requests/s (wrk -t1 -c50) | {fmt(rps_sse)} | {fmt(rps_node)} | {fmt(rps_nginx)} | "
    f"{fmt(ratio(rps_sse, rps_node), 2)} | {fmt(ratio(rps_sse, rps_nginx), 2)} | ≥ 1.5 × nginx | "
    f"{met((ratio(rps_sse, rps_nginx) or 0) >= 1.5, rps_sse, rps_nginx)} |")
out(f"| stripped binary, KiB | {fmt(bin_sse / 1024 if bin_sse else None)} | "
    f"{fmt(bin_node / 1024 if bin_node else None)} (node) | {fmt(bin_nginx / 1024 if bin_nginx else None)} | "
    f"| | | |")
out("")

# Every run, to show the spread.
out("Per run (run 1 / run 2 / ...):")
out("")
out("| test | server | value | runs | median |")
out("| --- | --- | --- | --- | ---: |")


def per_run(test, server, key, label, scale=1.0, digits=1):
    vs = runs(test, server, key)
    if not vs:
        return
    shown = " / ".join(fmt(v * scale, digits) for v in vs)
    out(f"| {test} | {server} | {label} | {shown} | {fmt(statistics.median(vs) * scale, digits)} |")


for server in ("sse", "node"):
    vs = idle.get(server, [])
    if vs:
        out(f"| idle | {server} | RSS 1 s after start, MiB ({len(vs)} starts) | "
            f"{' / '.join(fmt(v / 1024, 2) for v in vs)} | {fmt(statistics.median(vs) / 1024, 2)} |")
for server in ("sse", "node"):
    per_run("c10k", server, "rss_open_kib", "RSS with the streams open, MiB", 1 / 1024, 2)
    per_run("c10k", server, "open_at_rss", "connections open when RSS was read", 1, 0)
    per_run("c10k", server, "per_stream_bytes", "RSS per stream, bytes", 1, 0)
    per_run("c10k", server, "connected", "streams connected", 1, 0)
    per_run("c10k", server, "failed", "connects failed", 1, 0)
    per_run("c10k", server, "lateness_p50_ms", "lateness p50, ms", 1, 3)
    per_run("c10k", server, "lateness_p99_ms", "lateness p99, ms", 1, 3)
    per_run("c10k", server, "lateness_max_ms", "lateness max, ms", 1, 3)
    per_run("c10k", server, "server_lateness_p99_ms", "the server's own p99 lateness (its /metrics), ms", 1, 3)
    per_run("c10k", server, "loop_delay_p99_ms", "sse-bench's own loop delay p99, ms", 1, 3)
    per_run("c10k", server, "steal_s", "CPU stolen by the hypervisor during the run, s", 1, 2)
    per_run("c10k", server, "connect_p99_ms", "connect p99, ms", 1, 3)
    per_run("c10k", server, "events", "events received", 1, 0)
    per_run("c10k", server, "gaps", "id gaps", 1, 0)
    per_run("c10k", server, "repeats", "id repeats", 1, 0)
    per_run("c10k", server, "errors", "stream errors", 1, 0)
for server in ("sse-1ms", "node-1ms"):
    per_run("eps", server, "events_per_sec", "events/s", 1, 0)
    per_run("eps", server, "bytes_per_sec", "bytes/s, MiB", 1 / 1048576, 2)
    per_run("eps", server, "connected", "streams connected", 1, 0)
    per_run("eps", server, "gaps", "id gaps", 1, 0)
    per_run("eps", server, "repeats", "id repeats", 1, 0)
    per_run("eps", server, "errors", "stream errors", 1, 0)
for server in ("sse", "node", "nginx"):
    per_run("static", server, "requests_per_sec", "requests/s", 1, 0)
    per_run("static", server, "page_bytes", "body of GET /, bytes", 1, 0)
    per_run("static", server, "non_2xx", "non-2xx responses", 1, 0)
    per_run("static", server, "socket_errors", "socket errors", 1, 0)
for test, servers in (("c10k", ("sse", "node")), ("eps", ("sse-1ms", "node-1ms")), ("static", ("sse", "node", "nginx"))):
    for server in servers:
        per_run(test, server, "log_warnings", "warning/error lines in its log", 1, 0)


def per_run_ratio(test, a, b, key, label):
    va, vb = runs(test, a, key), runs(test, b, key)
    if va and len(va) == len(vb):
        rs = [x / y for x, y in zip(va, vb) if y]
        if rs:
            out(f"| {test} | {a} ÷ {b} | {label}, same run | {' / '.join(fmt(r, 2) for r in rs)} | "
                f"{fmt(statistics.median(rs), 2)} |")


per_run_ratio("eps", "sse-1ms", "node-1ms", "events_per_sec", "events/s")
per_run_ratio("static", "sse", "nginx", "requests_per_sec", "requests/s")
per_run_ratio("static", "sse", "node", "requests_per_sec", "requests/s")
for test, servers in (("c10k", ("sse", "node")), ("eps", ("sse-1ms", "node-1ms")), ("static", ("sse", "node", "nginx"))):
    for server in servers:
        per_run(test, server, "other_cpu_s", "CPU used by the rest of the machine, s", 1, 2)
out("")

out("CPU time during each test (user + system, whole process; medians), and the same as a share of one core "
    "over the test's wall time. The load generator and the server share the 2 cores. \"Rest of the machine\" is "
    "all busy CPU time in /proc/stat minus those two: other processes, and kernel interrupt work not charged "
    "to a process.")
out("")
out("| test | server | server CPU, s | server, % of a core | server CPU per event or request, µs | load generator CPU, s | load generator, % of a core | rest of the machine, s | wall, s |")
out("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for test, servers in (("c10k", ("sse", "node")), ("eps", ("sse-1ms", "node-1ms")), ("static", ("sse", "node", "nginx"))):
    for server in servers:
        cpu = med(test, server, "server_cpu_s")
        bench = med(test, server, "bench_cpu_s")
        wall = med(test, server, "wall_s")
        other = med(test, server, "other_cpu_s")
        if cpu is None:
            continue
        # Per run, server CPU over what was done (events received, or
        # requests = requests/s × wrk's -d), then the median.
        if test == "static":
            wrk_secs = float(meta.get("durations", "wrk 10s").split("wrk ")[-1].rstrip("s"))
            done = [r * wrk_secs for r in runs(test, server, "requests_per_sec")]
        else:
            done = runs(test, server, "events")
        per = [c / n * 1e6 for c, n in zip(runs(test, server, "server_cpu_s"), done) if n]
        per_item = statistics.median(per) if per else None
        out(f"| {test} | {server} | {fmt(cpu, 2)} | {fmt(100 * cpu / wall, 0)} % | {fmt(per_item, 1)} | {fmt(bench, 2)} | "
            f"{fmt(100 * bench / wall, 0)} % | {fmt(other, 2)} | {fmt(wall, 1)} |")

# Fan-out (fanout): sse-server (sse-pub) and nginx with nchan, 10,000
# subscribers on one channel.
def fanout_tables():
    kinds = ("sse-pub", "nchan")
    if not any(t == "fanout" for t, _, _ in values):
        return
    n_subs = 10000
    dps = {k: med("fanout", k, "max_rate_deliveries_per_sec") for k in kinds}
    rate = {k: med("fanout", k, "max_rate") for k in kinds}
    p99 = {k: med("fanout", k, "publish_latency_p99_ms") for k in kinds}
    per = {k: med("fanout", k, "per_subscriber_bytes") for k in kinds}
    idle_f = {k: med("fanout", k, "rss_idle_kib") for k in kinds}
    s, n = "sse-pub", "nchan"
    out("")
    out(f"Fan-out: {n_subs:,} subscribers on one channel, one publisher (sse-bench --publish); "
        "nchan is nginx with one worker (its worker's memory).")
    out("")
    out("| measure | sse-server | nginx + nchan | sse-server ÷ nchan | target | |")
    out("| --- | ---: | ---: | ---: | --- | --- |")
    out(f"| deliveries/s at the highest sustained publish rate | {fmt(dps[s])} | {fmt(dps[n])} | "
        f"{fmt(ratio(dps[s], dps[n]), 2)} | ahead of nchan's | {met((dps[s] or 0) > (dps[n] or 0), dps[s], dps[n])} |")
    out(f"| highest sustained publish rate, publishes/s | {fmt(rate[s], 0)} | {fmt(rate[n], 0)} | "
        f"{fmt(ratio(rate[s], rate[n]), 2)} | | |")
    out(f"| p99 publish-to-delivery at 10 publishes/s, ms | {fmt(p99[s], 3)} | {fmt(p99[n], 3)} | "
        f"{fmt(ratio(p99[s], p99[n]), 3)} | ≤ 5 ms | {met(p99[s] is not None and p99[s] <= 5.0, p99[s])} |")
    out(f"| RSS per subscriber, bytes | {fmt(per[s], 0)} | {fmt(per[n], 0)} | {fmt(ratio(per[s], per[n]), 3)} | "
        f"≤ nchan's ÷ 10 | {met(per[s] is not None and per[n] is not None and per[s] * 10 <= per[n], per[s], per[n])} |")
    out(f"| idle RSS, MiB | {fmt(idle_f[s] and idle_f[s] / 1024, 2)} | {fmt(idle_f[n] and idle_f[n] / 1024, 2)} | | | |")
    out("")
    out("Per run (run 1 / run 2 / ...); \"10/s\" is the first run, at 10 publishes/s:")
    out("")
    out("| server | value | runs | median |")
    out("| --- | --- | --- | ---: |")
    for k in kinds:
        for key, label, digits in (
            ("max_rate", "highest sustained publish rate, /s", 0),
            ("first_unsustained_rate", "lowest rate not sustained, /s (0: none found)", 0),
            ("max_rate_deliveries_per_sec", "deliveries/s at that rate", 0),
            ("steps", "rate steps after the 10/s run", 0),
            ("ok", "10/s sustained (1 yes)", 0),
            ("publish_latency_p50_ms", "10/s: latency p50, ms", 3),
            ("publish_latency_p99_ms", "10/s: latency p99, ms", 3),
            ("publish_latency_max_ms", "10/s: latency max, ms", 3),
            ("published", "10/s: publishes accepted", 0),
            ("gaps", "10/s: deliveries missed", 0),
            ("repeats", "10/s: repeats", 0),
            ("connected", "10/s: subscribers connected", 0),
            ("open_at_rss", "connections open when RSS was read", 0),
            ("rss_open_kib", "RSS with the subscribers open, MiB", 2),
            ("per_subscriber_bytes", "RSS per subscriber, bytes", 0),
            ("log_warnings", "warning/error lines in its log", 0),
        ):
            vs = runs("fanout", k, key)
            scale = 1 / 1024 if key == "rss_open_kib" else 1
            if vs:
                out(f"| {k} | {label} | {' / '.join(fmt(v * scale, digits) for v in vs)} | "
                    f"{fmt(statistics.median(vs) * scale, digits)} |")
    out("")
    out("Every step, in the order tried (ok: nothing lost or repeated, the rate kept). CPU is counted from the "
        "moment every subscriber was open to the end of the step (settling, publishing, draining): as a share of "
        "one core over that time, and per delivery.")
    out("")
    out("| server | run | publishes/s | ok | deliveries/s | p99 latency, ms | deliveries missed | server CPU | "
        "server µs per delivery | sse-bench CPU | sse-bench µs per delivery | rest of the machine |")
    out("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in kinds:
        # run -> step (the rate, as text) -> field -> value; the 10/s run
        # is the first step.
        by_run = defaultdict(dict)
        for r in rows:
            if r["server"] != k:
                continue
            if r["test"] == "fanout_step" and r["key"].startswith("r"):
                step, _, field = r["key"][1:].partition(".")
                by_run[r["run"]].setdefault(step, {})[field] = r["value"]
            elif r["test"] == "fanout":
                by_run[r["run"]].setdefault("10", {})[r["key"]] = r["value"]
        for run_no in sorted(by_run):
            steps = by_run[run_no]
            for step in ["10"] + [s for s in steps if s != "10"]:
                f = steps.get(step, {})
                wall, delivered = f.get("pub_wall_s"), f.get("delivered")

                def share(c):
                    return f"{fmt(100 * c / wall, 0)} %" if c is not None and wall else "–"

                def per_delivery(c):
                    return fmt(c / delivered * 1e6, 1) if c is not None and delivered else "–"

                def rest(f):
                    other, w = f.get("other_s"), f.get("wall_s")
                    if other is None or not w:
                        return "–"
                    flag = " **disturbed**" if other > limit * w else ""
                    return f"{fmt(100 * other / w, 0)} %{flag}"

                ok = f.get("ok")
                out(f"| {k} | {run_no} | {step} | {'yes' if ok else 'no' if ok is not None else '–'} | "
                    f"{fmt(f.get('deliveries_per_sec'))} | {fmt(f.get('publish_latency_p99_ms'), 3)} | "
                    f"{fmt(f.get('gaps'), 0)} | {share(f.get('pub_server_cpu_s'))} | "
                    f"{per_delivery(f.get('pub_server_cpu_s'))} | {share(f.get('pub_bench_cpu_s'))} | "
                    f"{per_delivery(f.get('pub_bench_cpu_s'))} | {rest(f)} |")

if not any(t in ("c10k", "eps", "static") for t, _, _ in values):
    del lines[classic_from:]
fanout_tables()


def c100k_table():
    """Every figure of the c100k test, per run (BENCHMARKS.md, "100,000 streams")."""
    keys = sorted({k for (t, s, k) in values if t == "c100k"}, key=lambda k: c100k_order.index(k) if k in c100k_order else 99)
    if not keys:
        return
    n = max(len(runs("c100k", "sse", k)) for k in keys)
    out("")
    out("### c100k: streams over several --reuse-port processes, per run")
    out("")
    out("| figure | " + " | ".join(f"run {i + 1}" for i in range(n)) + " |")
    out("| --- |" + " ---: |" * n)
    for k in keys:
        vs = runs("c100k", "sse", k)
        digits = 3 if k.endswith("_ms") else 2 if k.endswith("_s") else 1 if k.endswith("_pct") else 0
        out(f"| {k} | " + " | ".join(fmt(v, digits) for v in vs) + " |")


c100k_order = [
    "servers", "connected", "failed", "early_closes", "errors", "gaps", "repeats", "all_open_after_s",
    "streams_open_when_measured", "rss_idle_kib", "rss_open_kib", "per_stream_bytes",
    "kernel_slab_per_stream_bytes", "kernel_socket_buffers_per_stream_bytes", "cpu_idle_pct",
    "cpu_streaming_pct", "events_per_sec", "server_lateness_p99_ms", "lateness_p99_ms",
    "lateness_p99_worst_ms", "loop_delay_p99_ms", "steal_s", "log_warnings",
]
c100k_table()

table = "\n".join(lines) + "\n"
sys.stdout.write(table)
with open(f"{out_dir}/results.md", "w") as f:
    f.write(table)
with open(f"{out_dir}/results.json", "w") as f:
    json.dump({"machine": meta, "medians": medians, "samples": rows}, f, indent=1)
    f.write("\n")
