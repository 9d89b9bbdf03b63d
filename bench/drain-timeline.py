#!/usr/bin/env python3
"""The timeline of a graceful shutdown under load (README "Stopping:
draining and restarting"): N streams on sse-server A; B, its successor,
listens on the same port (--reuse-port); A gets SIGTERM. Each client reads
its stream until A ends it with a `retry:`, waits that long, reconnects to
the port (B now) with its Last-Event-ID, and checks that the first event
it gets there is the next one of its stream.

    bench/drain-timeline.py [--streams 10000] [--drain 5000] [--bin target/release]

Prints when the streams ended and when the clients were back, as shares
of the clients over time since the signal, A's exit code and how long it
took, and the gaps and repeats seen on resuming. Everything listens on
127.0.0.1; both servers are ended on exit, whatever happens.
"""

import argparse
import asyncio
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--streams", type=int, default=10000)
ap.add_argument("--drain", type=int, default=5000)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release"))
ap.add_argument("--limit", type=float, default=120.0, help="seconds the whole run may take")
args = ap.parse_args()

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if hard < args.streams + 100:
    sys.exit(f"drain-timeline: the open-file limit {hard} is below {args.streams} streams")

servers = []


def start(port, name):
    p = subprocess.Popen(
        [os.path.join(args.bin, "sse-server"), "--reuse-port", "--port", str(port), "--drain", str(args.drain),
         "--log-level", "info"],
        stdout=subprocess.PIPE, stderr=open(f"/tmp/drain-timeline.{name}.log", "w"), text=True)
    servers.append(p)
    line = p.stdout.readline()
    m = re.search(r":(\d+)/$", line.strip())
    if not m:
        sys.exit(f"drain-timeline: {name} did not start: {line!r}")
    return p, int(m.group(1))


def end_all():
    for p in servers:
        if p.poll() is None:
            p.kill()
            p.wait()


class Client:
    __slots__ = ("last_id", "ended", "retry", "back", "first_back", "error")

    def __init__(self):
        self.last_id = None
        self.ended = None
        self.retry = None
        self.back = None
        self.first_back = None
        self.error = None


async def read_events(reader, on_event):
    """Reads an event stream body until EOF; calls on_event(fields)."""
    fields = {}
    while True:
        line = await reader.readline()
        if not line:
            return
        line = line.rstrip(b"\n")
        if not line:
            if fields:
                on_event(fields)
            fields = {}
            continue
        name, _, value = line.partition(b":")
        fields[name.decode()] = value[1:].decode() if value.startswith(b" ") else value.decode()


async def stream(port, c, opened, t0_box, back_box):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        opened.append(c)

        def first(fields):
            if "id" in fields:
                c.last_id = fields["id"]
            if "retry" in fields:
                c.retry = int(fields["retry"])

        await read_events(reader, first)
        c.ended = time.monotonic()
        writer.close()
        if c.retry is None:
            c.error = "ended without a retry"
            return
        await asyncio.sleep(c.retry / 1000)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        resume = f"Last-Event-ID: {c.last_id}\r\n" if c.last_id else ""
        writer.write(f"GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n{resume}\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        c.back = time.monotonic()
        back_box[0] += 1
        got = asyncio.get_running_loop().create_future()

        def again(fields):
            if "id" in fields and not got.done():
                got.set_result(fields["id"])

        task = asyncio.ensure_future(read_events(reader, again))
        c.first_back = await asyncio.wait_for(got, 10)
        task.cancel()
        writer.close()
    except Exception as e:  # noqa: BLE001 - every failure is counted, none stops the run
        c.error = f"{type(e).__name__}: {e}"


async def main():
    a, port = start(0, "a")
    clients = [Client() for _ in range(args.streams)]
    opened, back = [], [0]
    tasks = []
    for i, c in enumerate(clients):
        tasks.append(asyncio.ensure_future(stream(port, c, opened, None, back)))
        if i % 500 == 499:
            await asyncio.sleep(0.1)
    deadline = time.monotonic() + 30
    while len(opened) < args.streams and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # Each stream has an id to resume from.
    await asyncio.sleep(3)
    b, _ = start(port, "b")
    t0 = time.monotonic()
    a.send_signal(signal.SIGTERM)
    exit_at = None
    while time.monotonic() - t0 < args.limit / 2:
        if exit_at is None and a.poll() is not None:
            exit_at = time.monotonic() - t0
        if exit_at is not None and all(t.done() for t in tasks):
            break
        await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    return a, t0, exit_at, clients, len(opened)


def share(times, t0, label):
    ts = sorted(t - t0 for t in times if t is not None)
    if not ts:
        print(f"{label}: none")
        return
    n = len(ts)
    marks = " ".join(f"{p}%:{ts[min(n - 1, n * p // 100)]:.2f}s" for p in (10, 25, 50, 75, 90, 99))
    print(f"{label} ({n}): first {ts[0]:.2f}s, {marks}, last {ts[-1]:.2f}s")
    step = 0.5
    edges = [step * i for i in range(int(ts[-1] / step) + 2)]
    counts = [sum(1 for t in ts if lo <= t < lo + step) for lo in edges]
    print("  per 0.5 s: " + " ".join(f"{lo:.1f}-{lo + step:.1f}s:{c}" for lo, c in zip(edges, counts) if c))


try:
    a, t0, exit_at, clients, opened = asyncio.run(main())
    print(f"streams opened on A: {opened} of {args.streams}; --drain {args.drain} ms")
    print(f"A exited with code {a.returncode} after {exit_at:.2f} s" if exit_at is not None else "A did not exit")
    share([c.ended for c in clients], t0, "streams ended by A")
    share([c.back for c in clients], t0, "clients back (on B)")
    gaps = repeats = 0
    for c in clients:
        if c.first_back and c.last_id:
            conn, n = c.last_id.rsplit("-", 1)
            bconn, bn = c.first_back.rsplit("-", 1)
            if bconn != conn or int(bn) > int(n) + 1:
                gaps += 1
            elif int(bn) <= int(n):
                repeats += 1
    retries = sorted(c.retry for c in clients if c.retry is not None)
    if retries:
        print(f"retry: {retries[0]} to {retries[-1]} ms, median {retries[len(retries) // 2]}")
    errors = [c.error for c in clients if c.error]
    print(f"resumed with the next event: {sum(1 for c in clients if c.first_back)}; gaps {gaps}; repeats {repeats}; "
          f"errors {len(errors)}{' (e.g. ' + errors[0] + ')' if errors else ''}")
    with open("/tmp/drain-timeline.a.log") as f:
        for line in f:
            if "SIGTERM" in line:
                print("A: " + line.split("] ", 1)[-1].rstrip())
finally:
    end_all()
