"""httpx-sse (with httpx) against every scenario, from Python.

    SSE_URL=... COMPAT_OUT=... target/compat/venv/bin/python run-python.py

httpx-sse parses one response; it does not reconnect, check the status or
follow a session. This harness does what EventSource does around it, so that
whole sessions compare with /expected:
  - redirects are followed (httpx follow_redirects, at most 20, as Fetch);
  - a status other than 200 fails the connection (no reconnection);
  - the Content-Type check is the library's own (it raises SSEError): that
    fails the connection too;
  - when a connection ends (end of body, or a network error), the harness
    reconnects after the retry the library last reported, or 100 ms, and
    sends Last-Event-ID: the last id the library reported, when not empty.
The recording and ending rules are those of session.mjs: "fail", "reconnect"
when the K-th connection ended (K = the expected connections), "open" when
no event came for 1.5 s after the expected ones (4 s whatever came), else
"timeout" after 12 s. Each event is recorded as the library reports it:
(event, data, id); `retry` is the last retry it reported.
Writes $COMPAT_OUT/results/python.json.
"""

import asyncio
import json
import os
import platform
import sys
import time
from importlib.metadata import version

import httpx
from httpx_sse import SSEError, aconnect_sse

OUT = os.environ["COMPAT_OUT"]
BASE = os.environ["SSE_URL"]
ONLY = [n for n in os.environ.get("COMPAT_ONLY", "").replace(",", " ").split() if n]

# The timing of session.mjs (lib.mjs TIMING), in seconds.
QUIET = 1.5
LONELY = 4.0
TIMEOUT = 12.0
DEFAULT_RETRY_MS = 100  # the harness's reconnection time when the library reports none
CONCURRENCY = 4


async def session(client, scenario):
    """One scenario's whole session: the record of what the client made of it."""
    want = scenario["expected"]
    url = BASE + scenario["url"]
    t0 = time.monotonic()

    def ms():
        return round((time.monotonic() - t0) * 1000)

    events, log, requests = [], [], []
    last_id = ""
    retry = None  # the last retry the library reported
    connections = 0
    last = 0.0  # when the last response or event came (monotonic)

    while True:
        connections += 1
        headers = {"Last-Event-ID": last_id} if last_id else {}
        requests.append([ms(), last_id or None])
        queue = asyncio.Queue()

        async def read(es):
            # Feeds the queue with what the library yields, then how it ended.
            try:
                async for sse in es.aiter_sse():
                    await queue.put(("event", sse))
                await queue.put(("end", "end of body"))
            except SSEError as e:
                await queue.put(("fail", f"SSEError: {e}"))
            except httpx.HTTPError as e:
                await queue.put(("end", f"{type(e).__name__}: {e}"))

        end = None
        try:
            async with aconnect_sse(client, "GET", url, headers=headers) as es:
                r = es.response
                last = time.monotonic()
                log.append([ms(), "response", r.status_code, r.headers.get("content-type")])
                if r.status_code != 200:
                    end = "fail"
                else:
                    reader = asyncio.create_task(read(es))
                    try:
                        while end is None:
                            now = time.monotonic()
                            quiet_for = QUIET if len(events) >= len(want["events"]) else LONELY
                            wait = min(last + quiet_for - now, t0 + TIMEOUT - now)
                            try:
                                kind, item = await asyncio.wait_for(queue.get(), max(wait, 0.001))
                            except asyncio.TimeoutError:
                                end = "timeout" if time.monotonic() >= t0 + TIMEOUT else "open"
                                break
                            if kind == "event":
                                last = time.monotonic()
                                events.append({"type": item.event, "data": item.data, "id": item.id})
                                if item.retry is not None:
                                    retry = item.retry
                                last_id = item.id
                            elif kind == "fail":
                                log.append([ms(), "fail", item])
                                end = "fail"
                            else:
                                log.append([ms(), "ended", item])
                                break  # this connection ended
                    finally:
                        reader.cancel()
                        try:
                            await reader
                        except (asyncio.CancelledError, Exception):
                            pass
        except httpx.HTTPError as e:
            # No response at all (refused, reset before the head): a network error.
            log.append([ms(), "error", f"{type(e).__name__}: {e}"])
        if end is not None:
            break
        if connections >= want["connections"]:
            end = "reconnect"
            break
        if time.monotonic() >= t0 + TIMEOUT:
            end = "timeout"
            break
        delay = retry if retry is not None else DEFAULT_RETRY_MS
        await asyncio.sleep(max(delay, 0) / 1000)

    return {
        "got": {"events": events, "retry": retry, "end": end, "connections": connections},
        "log": log[:50],
        "requests": requests,
    }


async def main():
    with open(os.path.join(OUT, "expected.json"), encoding="utf-8") as f:
        scenarios = json.load(f)["scenarios"]
    if ONLY:
        scenarios = [s for s in scenarios if s["name"] in ONLY]
    started = time.monotonic()
    results = {}
    sem = asyncio.Semaphore(CONCURRENCY)
    timeout = httpx.Timeout(connect=5.0, read=None, write=5.0, pool=5.0)
    async with httpx.AsyncClient(follow_redirects=True, max_redirects=20, timeout=timeout) as client:

        async def one(s):
            async with sem:
                t = time.monotonic()
                try:
                    r = await asyncio.wait_for(session(client, s), TIMEOUT + 10)
                except Exception as e:  # a harness or library crash: reported as such
                    r = {"error": f"{type(e).__name__}: {e}"[:300]}
                r["ms"] = round((time.monotonic() - t) * 1000)
                g = r.get("got")
                what = f"error: {r['error']}" if "error" in r else (
                    f"{g['end']}, {len(g['events'])} events, {g['connections']} connections, retry {g['retry']}")
                print(f"  [python] {s['name']}: {what} ({r['ms']} ms)", flush=True)
                results[s["name"]] = r

        await asyncio.gather(*(one(s) for s in scenarios))

    versions = {
        "package": f"httpx-sse {version('httpx-sse')}, httpx {version('httpx')}",
        "python": f"Python {platform.python_version()}",
    }
    os.makedirs(os.path.join(OUT, "results"), exist_ok=True)
    with open(os.path.join(OUT, "results", "python.json"), "w", encoding="utf-8") as f:
        json.dump({"client": "python", "versions": versions,
                   "ms": round((time.monotonic() - started) * 1000), "scenarios": results}, f)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
