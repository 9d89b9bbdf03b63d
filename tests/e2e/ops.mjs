// End-to-end checks of sse-server as it is run: behind nginx across a
// restart and under a sub-path, two servers behind one nginx when one dies,
// and /metrics read by Prometheus's own checker.
//   node ops.mjs <check>
// Prints what it does, exits 0 when the check passes, 1 with
// "FAIL <check>: <step>: <reason>" when it does not. Run through ../e2e.sh,
// which sets SSE_SERVER_BIN, SSE_E2E_WWW, SSE_E2E_ARTIFACTS, SSE_E2E_TMP,
// NGINX_BIN and PROMTOOL_BIN.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  ARTIFACTS, CheckError, CONNECTED, Server, UNAVAILABLE, WWW, assert, assertNumbering, begin, check,
  demoPage, eventData, eventsText, launchChromium, newStreamNumber, nginxSite, onCleanup, recordEventSources,
  restartOnSamePort, runCheck, say, startNginx, waitFor,
} from './lib.mjs';


/** The C of the demo page's first event item, "(event #1 of connection #C)". */
function pageNumber(list) {
  const first = list.find((t) => t !== CONNECTED && t !== UNAVAILABLE);
  const m = /^Server says hi! \(event #1 of connection #(\d+)\)$/.exec(first || '');
  assert(m, `the page's first event is ${JSON.stringify(first)} (all: ${JSON.stringify(list)})`);
  return m[1];
}

const RETRY_BODY = 'retry: 1000\n\n'; // README's @sse_retry answer

// ---------------------------------------------------------------------------
// 1. The demo page through nginx while sse-server is down for seconds.

async function nginxRestartBrowser() {
  const args = ['--interval', '200'];
  let srv = await Server.start(check, args);
  const port = srv.port;
  // README's configuration, and the same without its error_page line: the
  // control, nginx answering 502 as it does by default.
  const ngx = await startNginx(check, nginxSite({ upstreamPort: port }), say);
  const bare = await startNginx(`${check}-control`, nginxSite({ upstreamPort: port, withoutRetry: true }), say);

  begin(`launch Chromium; the demo page through nginx (README's configuration, :${ngx.port}) and through nginx without @sse_retry (:${bare.port})`);
  const ctx = await launchChromium();
  const page = ctx.pages()[0] || (await ctx.newPage());
  const control = await ctx.newPage();
  const streams = await recordEventSources(ctx, page);
  const controlStreams = await recordEventSources(ctx, control);
  const P = demoPage(page);
  const Q = demoPage(control);
  await page.goto(`http://127.0.0.1:${ngx.port}/`, { timeout: 10000 });
  await control.goto(`http://127.0.0.1:${bare.port}/`, { timeout: 10000 });
  for (const [D, label] of [[P, 'the page'], [Q, 'the control page']]) {
    await D.waitItems(`${label}: "${CONNECTED}" and 3 events`, 5000, 'return list.length >= 4');
  }
  const c = pageNumber(await P.items());
  const cc = pageNumber(await Q.items());
  const numbers = new Set([c, cc]);
  const news = srv.log.map(newStreamNumber).filter(Boolean);
  assert(news.length === 2 && news.every((x) => numbers.has(x)), `the server logged new streams ${JSON.stringify(news)}, want #${c} and #${cc}`);
  news.forEach((x, i) => assertNumbering(x, srv, i));
  say(`the page shows connection #${c}, the control page #${cc}`);

  begin('kill the server (SIGKILL): nginx ends both streams, and cannot connect when the pages come back');
  await srv.stop('SIGKILL');
  // The downtime is the point of this check, and it is waited for through
  // what happens, not slept: Chromium comes back after its default 3 s,
  // nginx answers "retry: 1000", and 1 s later it comes back again. The
  // server stays down until the page has had two such answers and the
  // control page's EventSource has had its 502.
  const retries = () => streams.filter((s) => s.status === 200 && s.end !== null && s.body === RETRY_BODY);
  await waitFor(() => retries().length >= 2, 10000,
    () => `two "${JSON.stringify(RETRY_BODY)}" answers to the page (requests: ${JSON.stringify(streams.map((s) => [s.status, s.body.slice(-40), s.failed]))})`);
  await waitFor(() => controlStreams.length >= 2 && controlStreams[1].end !== null, 5000, 'the control page to come back once');
  const refused = (ngx.errorLog().match(/connect\(\) failed \(111: Connection refused\) while connecting to upstream/g) || []).length;
  assert(refused >= 2, `nginx's error log has ${refused} "Connection refused" lines, want one per request while the server is down`);
  const down = retries();
  for (const r of down) {
    assert(/^text\/event-stream\b/.test(r.headers['Content-Type'] || r.headers['content-type'] || '')
      && /no-cache/.test(r.headers['Cache-Control'] || r.headers['cache-control'] || ''),
    `nginx's retry answer has fields ${JSON.stringify(r.headers)}, want Content-Type: text/event-stream and Cache-Control: no-cache`);
  }
  // Chromium honours the retry: the next request comes 1 s after each answer.
  const gaps = down.slice(0, -1).map((r) => streams[streams.indexOf(r) + 1].sent - r.end);
  assert(gaps.every((g) => g >= 950 && g <= 1500), `the page came back ${gaps.map((g) => g.toFixed(0)).join(', ')} ms after the retry answers, want 1000`);
  const c1 = controlStreams[1];
  assert(c1.status === 502, `the control page's second request got ${c1.status}, want nginx's 502`);
  say(`nginx refused ${refused} times; the page got ${down.length} retry answers, came back ${gaps.map((g) => g.toFixed(0)).join(', ')} ms after them; `
    + 'the control page got 502');

  begin(`start the server again on port ${port}: the page resumes connection #${c}, the control page does not`);
  const list0 = await P.items();
  const k = P.eventsOf(list0, c);
  srv = await restartOnSamePort(check, args, port);
  const line = await srv.waitLog(/Client (resumed|connected to) event stream/, 5000, 'of the page coming back');
  const want = `Client resumed event stream (connection #${c}, Last-Event-Id: ${c}-${k})`;
  assert(line.line.includes(want), `server logged ${JSON.stringify(line.line)}, want "${want}"`);
  await P.waitItems(`events #${k + 1} and #${k + 2} of connection #${c}`, 5000,
    'return list.filter((t) => t.startsWith("Server says hi!")).length >= arg', k + 2);
  const list = await P.items();
  const shown = P.eventsOf(list, c);
  // The DevTools protocol's report may come a little after the page shows it.
  const resumedBytes = eventsText(c, k + 1, k + 2);
  await waitFor(() => streams[streams.length - 1].body.length >= resumedBytes.length, 2000, 'the browser to report the bytes of two events');
  const last = streams[streams.length - 1];
  assert(last.status === 200 && last.body.startsWith(resumedBytes),
    () => `after the restart the page received ${JSON.stringify(last.body.slice(0, 300))}, want ${c}-${k + 1}, ${c}-${k + 2}, ...`);
  say(`the page shows ${c}-1 .. ${c}-${shown}: no gap, no repeat, ${down.length} retries in between`);
  // The control page gave up for good: no request after its 502, no resume.
  const controlList = await Q.items();
  assert(controlStreams.length === 2, `the control page made ${controlStreams.length} stream requests, want 2 (it gave up after the 502)`);
  assert(controlList[controlList.length - 1] === UNAVAILABLE, `the control page shows ${JSON.stringify(controlList)}`);
  assert(!srv.hasLog(`connection #${cc},`), `the server logged a stream #${cc} of the control page after the restart`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'nginx-restart-page.png') });
  await control.screenshot({ path: path.join(ARTIFACTS, 'nginx-restart-control.png') });

  begin('close the browser: the server logs the disconnect');
  const mark = srv.log.length;
  await ctx.close();
  await srv.waitLog(`Client disconnected from event stream (connection #${c})`, 3000, undefined, mark);
}

// ---------------------------------------------------------------------------
// 2. The demo page under a sub-path: its stream's URL is relative.

async function nginxSubpath() {
  const srv = await Server.start(check, ['--interval', '200']);
  const ngx = await startNginx(check, nginxSite({ upstreamPort: srv.port, prefix: '/sse/' }), say);
  const url = `http://127.0.0.1:${ngx.port}/sse/`;

  begin(`launch Chromium; load ${url}: the page opens /sse/events and shows events`);
  const ctx = await launchChromium();
  const page = ctx.pages()[0] || (await ctx.newPage());
  const streams = await recordEventSources(ctx, page);
  const P = demoPage(page);
  const res = await page.goto(url, { timeout: 10000 });
  const file = fs.readFileSync(path.join(WWW, 'index.html'));
  assert(res.status() === 200 && (await res.body()).equals(file), `${url} is ${res.status()}, not www/index.html`);
  const first = await srv.waitLog(/Client (connected to|resumed) event stream/, 5000, 'of the page');
  const c = newStreamNumber(first.line);
  assert(c, `server logged ${JSON.stringify(first.line)}, want a new stream`);
  assertNumbering(c, srv, 0);
  await P.waitItems(`"${CONNECTED}" and 3 events`, 5000, 'return list.length >= 4 || list.includes("Server unavailable :(")');
  const list = await P.items();
  assert(list[0] === CONNECTED && !list.includes(UNAVAILABLE), `the page shows ${JSON.stringify(list)}`);
  const n = P.eventsOf(list.slice(1), c);
  await waitFor(() => streams.length && streams[0].body.length >= eventsText(c, 1, 3).length, 2000, 'the browser to report the bytes of three events');
  assert(streams.length === 1 && streams[0].url === `${url}events`,
    `the page's EventSource asked for ${JSON.stringify(streams.map((s) => s.url))}, want ${url}events`);
  assert(streams[0].body.startsWith(eventsText(c, 1, 3)), `the page received ${JSON.stringify(streams[0].body.slice(0, 300))}`);
  say(`the page shows ${c}-1 .. ${c}-${n} from ${streams[0].url}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'page-subpath.png') });

  begin('close the browser: the server logs the disconnect; nginx logged GET /sse/events');
  const mark = srv.log.length;
  await ctx.close();
  await srv.waitLog(`Client disconnected from event stream (connection #${c})`, 3000, undefined, mark);
  await waitFor(() => /"GET \/sse\/events HTTP\/1\.1" 200 /.test(ngx.accessLog()), 3000, 'nginx\'s access log line of GET /sse/events');
}

// ---------------------------------------------------------------------------
// 3. Two servers behind one nginx; one is killed; nothing is lost.
//
// sse-bench does not do this: a stream the server ends is counted as an
// early close and never opened again (README "sse-bench"). The client here
// is the npm eventsource package, one EventSource per stream, which
// reconnects with Last-Event-ID as a browser does.

async function failover() {
  const STREAMS = 1000;
  const INTERVAL = 100;
  const a = await Server.start(`${check}-a`, []);
  const b = await Server.start(`${check}-b`, []);
  const ngx = await startNginx(check, nginxSite({ upstreams: [a.port, b.port] }), say);
  const url = `http://127.0.0.1:${ngx.port}/events?interval=${INTERVAL}`;
  const { EventSource } = await import('eventsource');

  begin(`${STREAMS} EventSources (npm eventsource) on ${url}, spread by nginx over :${a.port} (A) and :${b.port} (B)`);
  const streams = [];
  const problems = [];
  for (let i = 0; i < STREAMS; i++) {
    const s = { i, c: null, last: 0, opens: 0, gaps: 0, repeats: 0, foreign: 0, bad: 0, resumedAfter: null, sinceReopen: 0 };
    const es = new EventSource(url);
    s.es = es;
    es.addEventListener('open', () => {
      s.opens += 1;
      if (s.opens === 2) s.resumedAfter = s.last;
    });
    es.addEventListener('message', (e) => { s.bad += 1; problems.push(`stream ${i}: an unnamed event ${JSON.stringify(e.data)}`); });
    es.addEventListener('my-custom-event', (e) => {
      const m = /^(\d+)-(\d+)$/.exec(e.lastEventId);
      if (!m) { s.bad += 1; problems.push(`stream ${i}: id ${JSON.stringify(e.lastEventId)}`); return; }
      const [, c, nText] = m;
      const n = Number(nText);
      if (s.c === null) s.c = c;
      if (c !== s.c) { s.foreign += 1; problems.push(`stream ${i}: id ${e.lastEventId} on connection #${s.c}`); return; }
      if (e.data !== eventData(c, n)) { s.bad += 1; problems.push(`stream ${i}: data ${JSON.stringify(e.data)} for id ${e.lastEventId}`); }
      if (n === s.last + 1) {
        // the next one
      } else if (n <= s.last) {
        s.repeats += 1;
      } else {
        s.gaps += n - s.last - 1;
      }
      s.last = Math.max(s.last, n);
      if (s.opens >= 2) s.sinceReopen += 1;
    });
    streams.push(s);
  }
  onCleanup(() => streams.forEach((s) => s.es.close()));
  const t0 = performance.now();
  await waitFor(() => streams.every((s) => s.last >= 3), 20000,
    () => `every stream to have 3 events (${streams.filter((s) => s.last >= 3).length} have)`);
  say(`all ${STREAMS} streams open with 3 events or more after ${(performance.now() - t0).toFixed(0)} ms`);
  // Which server each stream is on: its number, as each server logged it.
  const onA = new Set(a.log.map(newStreamNumber).filter(Boolean));
  const onB = new Set(b.log.map(newStreamNumber).filter(Boolean));
  const numbers = new Set(streams.map((s) => s.c));
  assert(numbers.size === STREAMS, `${numbers.size} distinct connection numbers among ${STREAMS} streams`);
  assert(onA.size + onB.size === STREAMS && streams.every((s) => onA.has(s.c) !== onB.has(s.c)),
    `the servers logged ${onA.size} + ${onB.size} new streams, want ${STREAMS}, each stream's number on one of them`);
  assert(onA.size > 0 && onB.size > 0, `nginx sent ${onA.size} streams to A and ${onB.size} to B, want both used`);
  [...onA].sort().forEach((c, n) => assertNumbering(c, a, n));
  [...onB].sort().forEach((c, n) => assertNumbering(c, b, n));
  const fromA = streams.filter((s) => onA.has(s.c));
  const fromB = streams.filter((s) => onB.has(s.c));
  say(`A (pid ${a.pid}) has ${fromA.length} streams, B (pid ${b.pid}) ${fromB.length}; numbers distinct, each with its server's pid`);

  begin('kill -9 A: each of its streams comes back through nginx, resumes on B as the same connection, and goes on');
  const killedAt = performance.now();
  const exit = await a.stop('SIGKILL');
  assert(exit.signal === 'SIGKILL', `A exited ${JSON.stringify(exit)}`);
  await waitFor(() => fromA.every((s) => s.opens >= 2 && s.sinceReopen >= 2) || problems.length, 20000,
    () => `every stream of A to come back with 2 events (${fromA.filter((s) => s.opens >= 2).length} came back, `
      + `${fromA.filter((s) => s.sinceReopen >= 2).length} with 2 events)`);
  const backIn = performance.now() - killedAt;
  assert(!problems.length, () => `${problems.length} problems: ${problems.slice(0, 5).join('; ')}`);
  // B's log: one resume per stream of A, from the id that stream last had.
  const resumes = new Map();
  for (const l of b.log) {
    const m = /Client resumed event stream \(connection #(\d+), Last-Event-Id: (\d+)-(\d+)\)/.exec(l);
    if (m) resumes.set(m[1], [...(resumes.get(m[1]) || []), `${m[2]}-${m[3]}`]);
  }
  for (const s of fromA) {
    const r = resumes.get(s.c) || [];
    assert(r.length === 1 && r[0] === `${s.c}-${s.resumedAfter}`,
      `stream ${s.i} (#${s.c}, A) had ${s.c}-${s.resumedAfter} when it came back; B logged resumes ${JSON.stringify(r)}`);
  }
  assert(resumes.size === fromA.length, `B logged ${resumes.size} resumed streams, want the ${fromA.length} of A`);
  const newOnB = b.log.map(newStreamNumber).filter(Boolean).length;
  assert(newOnB === fromB.length, `B logged ${newOnB} new streams, want its ${fromB.length}: a stream of A started anew`);
  const reopenedB = fromB.filter((s) => s.opens !== 1);
  assert(!reopenedB.length, `${reopenedB.length} streams of B were disturbed (opened again)`);
  const total = (k) => streams.reduce((sum, s) => sum + s[k], 0);
  const events = total('last');
  const counts = { streams: STREAMS, onA: fromA.length, onB: fromB.length, resumed: resumes.size, gaps: total('gaps'),
    repeats: total('repeats'), foreign: total('foreign'), bad: total('bad'), events };
  const refused = (ngx.errorLog().match(/connect\(\) failed \(111: Connection refused\) while connecting to upstream/g) || []).length;
  say(`all ${fromA.length} streams of A resumed on B within ${backIn.toFixed(0)} ms of the kill (the client's reconnection time is 3 s); `
    + `nginx was refused by A ${refused} times and passed those on to B`);
  say(`counts ${JSON.stringify(counts)}`);
  assert(counts.gaps === 0 && counts.repeats === 0 && counts.foreign === 0 && counts.bad === 0,
    `gaps ${counts.gaps}, repeats ${counts.repeats}, ids of another connection ${counts.foreign}, bad events ${counts.bad}`);
  assert(refused >= 1, 'nginx\'s error log has no "Connection refused": no reconnection was tried on A and passed on');
  const metrics = await (await fetch(`${b.url}/metrics`)).text();
  const value = (name) => Number((metrics.split('\n').find((l) => l.startsWith(`${name} `)) || '').split(' ')[1]);
  assert(value('sse_streams_started_total{kind="resumed"}') === fromA.length && value('sse_streams_started_total{kind="new"}') === fromB.length
    && value('sse_open_streams') === STREAMS,
  `B's /metrics: resumed ${value('sse_streams_started_total{kind="resumed"}')}, new ${value('sse_streams_started_total{kind="new"}')}, `
    + `open ${value('sse_open_streams')}; want ${fromA.length}, ${fromB.length}, ${STREAMS}`);

  begin(`close the ${STREAMS} EventSources: B sees them all leave`);
  streams.forEach((s) => s.es.close());
  await waitFor(async () => {
    const t = await (await fetch(`${b.url}/metrics`)).text();
    return /^sse_open_streams 0$/m.test(t);
  }, 10000, 'B to count 0 open streams', 100);
}

// ---------------------------------------------------------------------------
// 4. /metrics, as Prometheus's own checker reads it.

const PROMTOOL = process.env.PROMTOOL_BIN || 'promtool';

function promtool(text) {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 10000 });
  if (r.error) throw new CheckError(`cannot run ${PROMTOOL}: ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

/** GET on the server, the body read to its end as text. */
function get(srv, target) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: srv.port, path: target, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

/** An open stream: resolves once its body holds `until`; `close()` ends it. */
function openStream(srv, target, until) {
  let body = '';
  let req;
  const got = new Promise((resolve, reject) => {
    req = http.get({ host: '127.0.0.1', port: srv.port, path: target, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; if (body.includes(until)) resolve(); });
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  onCleanup(() => req.destroy());
  return { got, close: () => req.destroy(), body: () => body };
}

async function metricsPromtool() {
  const srv = await Server.start(check, []);
  begin('traffic: a stream of 2 events, a stream and a channel subscriber held open, a publish, a 404');
  const ended = await get(srv, '/events?count=2&interval=50');
  assert(ended.status === 200 && (ended.body.match(/^id: /gm) || []).length === 2, `/events?count=2: ${ended.status} ${JSON.stringify(ended.body)}`);
  const open = openStream(srv, '/events?interval=50', 'id: ');
  const sub = openStream(srv, '/channels/promtool', 'data: hello');
  await waitFor(() => srv.log.filter((l) => /Client connected to event stream/.test(l)).length >= 3, 3000, 'the server to log 3 streams');
  const pub = await fetch(`${srv.url}/channels/promtool`, { method: 'POST', body: 'hello' });
  const pubBody = await pub.text();
  assert(pub.status === 200 && /^\{"id":"\d+-1"\}/.test(pubBody), `POST /channels/promtool: ${pub.status} ${pubBody}`);
  await Promise.all([open.got, sub.got]);
  const nf = await get(srv, '/no-such-file');
  assert(nf.status === 404, `/no-such-file: ${nf.status}`);

  begin(`GET /metrics | ${PROMTOOL} check metrics: no problem`);
  const text = (await get(srv, '/metrics')).body;
  fs.writeFileSync(path.join(ARTIFACTS, 'metrics.txt'), text);
  const r = promtool(text);
  assert(r.code === 0 && r.out === '', `promtool check metrics exited ${r.code}: ${r.out}`);
  const value = (name) => {
    const l = text.split('\n').find((x) => x.startsWith(`${name} `));
    assert(l, `/metrics has no ${name}`);
    return Number(l.slice(name.length + 1));
  };
  const want = {
    'sse_responses_total{code="404"}': 1, 'sse_events_published_total': 1, 'sse_channels': 1,
    'sse_channel_subscribers': 1, 'sse_open_streams': 2, 'sse_streams_started_total{kind="new"}': 3,
    'sse_streams_ended_total{reason="count"}': 1,
  };
  for (const [k, v] of Object.entries(want)) assert(value(k) === v, `/metrics says ${k} ${value(k)}, want ${v}`);
  assert(value('sse_events_sent_total') >= 3, `/metrics says sse_events_sent_total ${value('sse_events_sent_total')}, want 3 or more`);
  const families = text.split('\n').filter((l) => l.startsWith('# TYPE ')).length;
  say(`${families} metric families, ${text.length} bytes (target/e2e/metrics.txt): promtool says nothing, exit 0`);

  // The control: promtool does find problems, so its silence above means
  // something. A counter without _total, and one without HELP.
  begin('the control: promtool on a counter named without _total reports it');
  const bad = promtool('# HELP sse_events_sent Events.\n# TYPE sse_events_sent counter\nsse_events_sent 1\n');
  assert(bad.code !== 0 && /_total/.test(bad.out), `promtool on a bad exposition exited ${bad.code}: ${JSON.stringify(bad.out)}`);
  say(`promtool: ${bad.out.split('\n').join(' | ')} (exit ${bad.code})`);
  open.close();
  sub.close();
}

// ---------------------------------------------------------------------------

const CHECKS = {
  'nginx-restart-browser': nginxRestartBrowser, 'nginx-subpath': nginxSubpath, failover,
  'metrics-promtool': metricsPromtool,
};

await runCheck('ops.mjs', CHECKS);
