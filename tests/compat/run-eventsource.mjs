// The npm `eventsource` package against every scenario, from Node, with
// the recording and ending rules of the browsers (session.mjs).
//   node run-eventsource.mjs
// Its `fetch` option is wrapped (the package supports that) to log each
// request it makes: when, and with which Last-Event-ID. That makes the
// reconnection time measurable, which a browser's is not: after a session
// that ends with "reconnect", the runner waits for the next request, and
// the delay between the error event that ended the last connection and
// that request is the retry the package used.
// Writes $COMPAT_OUT/results/eventsource.json.
import { EventSource } from 'eventsource';

import {
  BASE, TIMING, loadScenarios, npmVersion, pool, say, typesOf, withTimeout, writeResult,
} from './lib.mjs';
import { observeSession } from './session.mjs';

const client = 'eventsource';
const DEFAULT_RETRY = 3000; // the package's reconnection time when the stream sets none (its source: 3e3)
const CONCURRENCY = 6;      // sessions at once: the reconnection waits are mostly idle time

async function one(s) {
  if (s.expected.connections < 1) return { error: 'expectation without connections' };
  const requests = []; // [performance.now(), Last-Event-ID or null]
  let nextRequest = null;
  const fetchLogged = (url, init) => {
    requests.push([performance.now(), init?.headers?.['Last-Event-ID'] ?? null]);
    if (nextRequest) nextRequest();
    return fetch(url, init);
  };
  // After a "reconnect" end: wait for the next request (the reconnection),
  // at most the retry the package should use plus 1.5 s.
  const linger = async () => {
    const wait = (s.expected.retry ?? DEFAULT_RETRY) + 1500;
    const before = requests.length;
    await new Promise((resolve) => {
      nextRequest = resolve;
      setTimeout(resolve, wait);
      if (requests.length > before) resolve();
    });
    nextRequest = null;
  };
  const opts = {
    url: BASE + s.url, types: typesOf(s.expected),
    want: { events: s.expected.events.length, connections: s.expected.connections },
    init: { fetch: fetchLogged }, linger, ...TIMING,
  };
  const rec = await withTimeout(observeSession(opts, EventSource), TIMING.timeoutMs + 10000, () => null);
  if (!rec) return { error: 'the session did not end' };
  // The retry used: the delay from the error event that ended connection i
  // (readyState CONNECTING: a reconnection is due) to request i + 1, for the
  // last such pair. (Each connection is one call of fetch: redirects are
  // followed inside it.)
  let retry = 'not measured';
  rec.log.filter((l) => l[1] === 'error').forEach((l, i) => {
    if (l[2] === 0 && requests[i + 1]) retry = Math.round(requests[i + 1][0] - (rec.t0 + l[0]));
  });
  return {
    got: { events: rec.events, retry, end: rec.end, connections: rec.connections },
    log: rec.log,
    requests: requests.map(([t, id]) => [Math.round(t - rec.t0), id]),
  };
}

const started = performance.now();
const scenarios = loadScenarios();
const results = {};
const out = await pool(scenarios, CONCURRENCY, async (s) => {
  const t = performance.now();
  const r = await one(s).catch((e) => ({ error: String(e.stack || e).split('\n')[0] }));
  r.ms = Math.round(performance.now() - t);
  say(client, `${s.name}: ${r.error ? `error: ${r.error}` : `${r.got.end}, ${r.got.events.length} events, ${r.got.connections} connections, retry ${r.got.retry}`} (${r.ms} ms)`);
  return r;
});
scenarios.forEach((s, i) => { results[s.name] = out[i]; });
writeResult(client, {
  versions: { package: `eventsource ${npmVersion('eventsource')}`, node: `Node.js ${process.version}` },
  defaultRetry: DEFAULT_RETRY,
  ms: Math.round(performance.now() - started),
  scenarios: results,
});
