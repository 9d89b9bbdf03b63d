// One end-to-end check against a real sse-server binary:
//   node run.mjs <check>
// Prints what it does, exits 0 when the check passes, 1 with
// "FAIL <check>: <step>: <reason>" when it does not. Run through ../e2e.sh,
// which sets SSE_SERVER_BIN, SSE_E2E_WWW, SSE_E2E_ARTIFACTS and SSE_E2E_TMP.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  ARTIFACTS, CONNECTED, README, Server, TMP, UNAVAILABLE, WWW, assert, assertNumbering, begin, check,
  demoPage, eventData, eventsText, eventText, launchChromium, newStreamNumber, nginxSite, onCleanup,
  recordEventSources, restartOnSamePort, runCheck, say, startNginx, waitFor,
} from './lib.mjs';


// ---------------------------------------------------------------------------
// 1. A real browser: headless Chromium driven by playwright-core.

async function browser() {
  // The default --drain (5 s): SIGTERM as a service manager sends it.
  const DRAIN = 5000;
  const args = ['--interval', '200'];
  let srv = await Server.start('browser', args);
  const port = srv.port;
  const url = `${srv.url}/`;

  begin('launch Chromium');
  const ctx = await launchChromium();
  const page = ctx.pages()[0] || (await ctx.newPage());
  const streams = await recordEventSources(ctx, page); // what the page's EventSource received, byte for byte
  const { items, waitItems, eventsOf, lastId } = demoPage(page);

  begin(`load ${url}: "${CONNECTED}" then event #1, #2, #3 of a new connection number C`);
  await page.goto(url, { timeout: 10000 });
  const first = await srv.waitLog(/Client (connected to|resumed) event stream/, 5000, 'of the page');
  const c = newStreamNumber(first.line);
  assert(c, `server logged ${JSON.stringify(first.line)}, want a new stream without Last-Event-Id`);
  assertNumbering(c, srv, 0); // the first new stream of this process
  await waitItems(`"${CONNECTED}" and 3 events`, 5000,
    'return list.length >= 4 || list.includes("Server unavailable :(")');
  let list = await items();
  assert(list[0] === CONNECTED, `first item is ${JSON.stringify(list[0])}, want ${JSON.stringify(CONNECTED)}`);
  assert(!list.includes(UNAVAILABLE), `page says unavailable: ${JSON.stringify(list)}`);
  eventsOf(list.slice(1), c);
  say(`connection #${c}: the server's pid ${srv.pid} is in it, n is 0`);

  begin(`SIGTERM: the server drains (--drain ${DRAIN}): the stream ends with "retry: R" (1 to 5 s), the server exits 0`);
  const drained = await srv.drain(DRAIN);
  assert(drained.began.includes(`SIGTERM: shutting down; 1 streams end over ${DRAIN} ms`),
    `the server logged ${JSON.stringify(drained.began)}`);
  assert(/1 streams ended with a retry, 0 ended before their turn \(client gone, or count reached\), \d+ other connections finished, 0 cut at the end$/.test(drained.ended),
    `the server logged ${JSON.stringify(drained.ended)}`);
  await waitItems(`"${UNAVAILABLE}"`, 5000, 'return list.includes("Server unavailable :(")');
  const s1 = streams[0];
  await waitFor(() => s1.end !== null, 3000, 'the browser to see the end of the stream');
  list = await items();
  const k = eventsOf(list, c);
  const shownId = await lastId();
  assert(shownId === `${c}-${k}`, `#last-id shows ${JSON.stringify(shownId)} after ${k} events, want "${c}-${k}"`);
  const m = /retry: (\d+)\n\n$/.exec(s1.body);
  assert(!s1.failed && m && s1.body === eventsText(c, 1, k) + m[0],
    () => `the browser received ${JSON.stringify(s1.body.slice(-200))} (${s1.failed || 'no error'}), `
      + `want events ${c}-1 .. ${c}-${k}, then "retry: R\\n\\n", then the end`);
  const retry = Number(m[1]);
  assert(retry >= 1000 && retry <= 5000, `retry: ${retry}, want 1000 to 5000`);
  say(`the browser received ${c}-1 .. ${c}-${k}, then "retry: ${retry}", then the end; the server exited 0 ${drained.ms} ms after SIGTERM`);

  begin(`restart on port ${port} at once: the page comes back ${retry} ms after the end and resumes connection #${c} at event #${k + 1}`);
  srv = await restartOnSamePort('browser', args, port);
  const resumed = await srv.waitLog(/Client (resumed|connected to) event stream/, retry + 5000, 'of the reconnecting page');
  const want = `Client resumed event stream (connection #${c}, Last-Event-Id: ${c}-${k})`;
  assert(resumed.line.includes(want), `server logged ${JSON.stringify(resumed.line)}, want "${want}"`);
  // What the browser reports through the DevTools protocol may come a
  // little after the server's log line: waited for, not assumed.
  await waitFor(() => streams.length >= 2, 2000, 'the browser to report its second stream request');
  assert(streams.length === 2, `the page made ${streams.length} stream requests, want 2`);
  const s2 = streams[1];
  const after = s2.sent - s1.end; // the browser's clock
  say(`the page asked again ${after.toFixed(0)} ms after the stream ended (retry: ${retry})`);
  assert(after >= retry - 50 && after <= retry + 500,
    `the page reconnected ${after.toFixed(0)} ms after the end of the stream, want the retry: ${retry} ms`);
  await waitItems(`"${CONNECTED}" and event #${k + 2} after the restart`, 5000,
    'const i = list.lastIndexOf("Server unavailable :("); return list.slice(i).includes("Server connected :)") && list.length - list.lastIndexOf("Server connected :)") > 2;');
  list = await items();
  const afterList = list.slice(list.lastIndexOf(UNAVAILABLE) + 1);
  assert(afterList[0] === CONNECTED, `after the restart the page shows ${JSON.stringify(afterList)}`);
  assert(afterList[1] === eventData(c, k + 1),
    `first event after the restart is ${JSON.stringify(afterList[1])}, want ${JSON.stringify(eventData(c, k + 1))}`);
  const shown = eventsOf(list, c);
  await waitFor(() => s2.body.length >= eventsText(c, k + 1, k + 2).length, 2000, 'the browser to report the bytes of two events');
  assert(s2.body.startsWith(eventsText(c, k + 1, k + 2)),
    `the browser received ${JSON.stringify(s2.body.slice(0, 300))} after the restart, want ${c}-${k + 1}, ${c}-${k + 2}, ...`);
  const shownId2 = await lastId();
  assert(shownId2 === `${c}-${shown}` || shownId2 === `${c}-${shown + 1}`, `#last-id shows ${JSON.stringify(shownId2)} after event ${c}-${shown}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'page-resumed.png') });

  begin('navigate to about:blank: the server logs the disconnect');
  const mark = srv.log.length;
  await page.goto('about:blank');
  await srv.waitLog(`Client disconnected from event stream (connection #${c})`, 3000, undefined, mark);

  // README "The event stream": numbers are unique across restarts. The
  // resumed stream kept its number and took none, so the first new stream
  // of this process is its n 0, with its pid, and is not C.
  begin(`navigate back to ${url}: a new stream, a new connection number (not #${c})`);
  const mark2 = srv.log.length;
  await page.goto(url, { timeout: 10000 });
  const fresh = await srv.waitLog(/Client (connected to|resumed) event stream/, 5000, 'of the new page', mark2);
  const c2 = newStreamNumber(fresh.line);
  assert(c2, `server logged ${JSON.stringify(fresh.line)}, want a new stream without Last-Event-Id`);
  assert(c2 !== c, `the new stream after the restart is connection #${c2}, the number of the stream before it`);
  assertNumbering(c2, srv, 0);
  await waitItems(`"${CONNECTED}" and 2 events of connection #${c2}`, 5000, 'return list.length >= 3');
  list = await items();
  assert(list[0] === CONNECTED, `first item is ${JSON.stringify(list[0])}`);
  eventsOf(list.slice(1), c2);
  say(`connection #${c2}: the new process's pid ${srv.pid} is in it, n is 0`);

  begin(`screenshot ${path.join(ARTIFACTS, 'page.png')}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'page.png') });

  begin('close the browser: the server logs the disconnect');
  const mark3 = srv.log.length;
  await ctx.close();
  await srv.waitLog(`Client disconnected from event stream (connection #${c2})`, 3000, undefined, mark3);
}

// ---------------------------------------------------------------------------
// 2. nginx in front (Debian's nginx, own prefix, proxy_buffering on).

/**
 * GET `target` on 127.0.0.1:`port`, splitting the body into blocks (what
 * comes before a blank line) stamped with their arrival time in ms since
 * the request was sent.
 */
function streamBlocks(port, target, headers = {}) {
  const s = { blocks: [], head: null, headAt: null, ended: false, endedAt: null, error: null, raw: '' };
  const t0 = performance.now();
  s.t0 = t0;
  const req = http.get({ host: '127.0.0.1', port, path: target, headers, agent: false }, (res) => {
    s.head = res;
    s.headAt = performance.now() - t0;
    res.setEncoding('utf8');
    let buf = '';
    res.on('data', (d) => {
      const at = performance.now() - t0;
      s.raw += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        s.blocks.push({ text: buf.slice(0, i + 2), at });
        buf = buf.slice(i + 2);
      }
    });
    res.on('end', () => { s.ended = true; s.endedAt = performance.now() - t0; s.rest = buf; });
    res.on('error', (e) => { s.error = e; s.errorAt = performance.now() - t0; });
  });
  req.on('error', (e) => { s.error = e; s.errorAt = performance.now() - t0; });
  s.close = () => req.destroy();
  return s;
}

const isEvent = (b) => b.text.startsWith('event: ');
const isComment = (b) => b.text.slice(0, -1).split('\n').slice(0, -1).every((l) => l.startsWith(':'));

async function nginxPrompt() {
  const srv = await Server.start('nginx-prompt', []);
  const ngx = await startNginx(check, nginxSite({ upstreamPort: srv.port }), say);
  const INTERVAL = 500;
  const target = `/events?interval=${INTERVAL}&count=3`;
  begin(`GET ${target} through nginx: each event within 100 ms of its due time`);
  const s = streamBlocks(ngx.port, target);
  await waitFor(() => s.ended || s.error, 5000, 'the stream to end after event #3');
  assert(!s.error, `request failed: ${s.error && s.error.message}`);
  assert(s.head.statusCode === 200, `status ${s.head.statusCode}`);
  assert(/^text\/event-stream/.test(s.head.headers['content-type'] || ''),
    `Content-Type through nginx is ${s.head.headers['content-type']}`);
  say(`head after ${s.headAt.toFixed(1)} ms; events at ${s.blocks.map((b) => b.at.toFixed(1)).join(', ')} ms; end at ${s.endedAt.toFixed(1)} ms`);
  assert(s.headAt < 200, `the response head came through nginx after ${s.headAt.toFixed(0)} ms, want it at once`);
  const events = s.blocks.filter(isEvent);
  assert(events.length === 3 && events.length === s.blocks.length && !s.rest,
    `got ${JSON.stringify(s.raw)}, want 3 events and nothing else`);
  const c = /id: (\d+)-/.exec(events[0].text)[1];
  events.forEach((b, i) => {
    const n = i + 1;
    assert(b.text === eventText(c, n), `event ${n} is ${JSON.stringify(b.text)}, want ${JSON.stringify(eventText(c, n))}`);
    const late = b.at - n * INTERVAL;
    assert(late <= 100 && late >= -50,
      `event #${n} arrived through nginx at ${b.at.toFixed(0)} ms, due at ${n * INTERVAL} ms (${late.toFixed(0)} ms off; `
      + 'nginx buffers the stream unless the server sends X-Accel-Buffering: no)');
  });
  assert(s.endedAt - events[2].at < 1000, `the stream ended ${(s.endedAt - events[2].at).toFixed(0)} ms after event #3`);

  begin('POST /channels/news through nginx: 403 (README sets X-Forwarded-For, so nginx\'s clients are not loopback publishers); directly: 200');
  const post = async (port) => (await fetch(`http://127.0.0.1:${port}/channels/news`, { method: 'POST', body: 'hi' })).status;
  const through = await post(ngx.port);
  const direct = await post(srv.port);
  assert(through === 403 && direct === 200, `through nginx ${through}, directly ${direct}: want 403 and 200`);
  say(`through nginx ${through}, directly ${direct}`);
}

async function nginxHeartbeat() {
  const srv = await Server.start('nginx-heartbeat', ['--heartbeat', '1000']);
  // README's configuration, its proxy_read_timeout 60s made 3s.
  const ngx = await startNginx(check, nginxSite({ upstreamPort: srv.port, readTimeout: '3s' }), say);
  const target = '/events?interval=10000';
  begin(`GET ${target} through nginx (proxy_read_timeout 3s, --heartbeat 1000): open for 10 s, then event #1`);
  // The control: the same stream through the same nginx setup from a server
  // without heartbeats is cut by nginx after proxy_read_timeout (3 s).
  const bare = await Server.start('nginx-heartbeat-control', ['--heartbeat', '0']);
  const ngxBare = await startNginx(check, nginxSite({ upstreamPort: bare.port, readTimeout: '3s' }), say);
  const control = streamBlocks(ngxBare.port, target);
  onCleanup(control.close);
  const s = streamBlocks(ngx.port, target);
  onCleanup(s.close);
  await waitFor(() => s.blocks.some(isEvent) || s.ended || s.error, 12000, 'event #1 (due after 10 s)');
  // nginx cuts an unbuffered response without its last chunk: an error
  // ("aborted") for the client, not a clean end.
  const cutAt = control.ended ? control.endedAt : control.error ? control.errorAt : null;
  say(`control (--heartbeat 0): ${cutAt !== null ? `nginx cut it after ${cutAt.toFixed(0)} ms` : 'still open'}`
    + `${control.raw ? `, got ${JSON.stringify(control.raw)}` : ''}`);
  assert(cutAt !== null && cutAt >= 2900 && cutAt < 5000 && !control.raw,
    'the control stream without heartbeats was not cut by nginx after about 3 s: is proxy_read_timeout in effect?');
  assert(!s.error, `the stream failed after ${(performance.now() - s.t0).toFixed(0)} ms: ${s.error && s.error.message}`);
  assert(!s.ended, () => `nginx ended the stream after ${s.endedAt.toFixed(0)} ms, before event #1 (heartbeats missing?); got ${JSON.stringify(s.raw)}`);
  assert(s.head.statusCode === 200, `status ${s.head.statusCode}`);
  const comments = s.blocks.filter((b) => !isEvent(b));
  const bad = comments.find((b) => !isComment(b));
  assert(!bad, `a block that is neither an event nor a comment: ${JSON.stringify(bad && bad.text)}`);
  const ev = s.blocks.find(isEvent);
  say(`heartbeats at ${comments.map((b) => b.at.toFixed(0)).join(', ')} ms; event #1 at ${ev.at.toFixed(0)} ms`);
  assert(comments.length >= 8, `${comments.length} heartbeat comments in 10 s, want about 9 (one per second of silence)`);
  let prev = s.headAt;
  for (const b of s.blocks) {
    assert(b.at - prev < 2000, `nothing came through nginx from ${prev.toFixed(0)} to ${b.at.toFixed(0)} ms`);
    prev = b.at;
  }
  const c = /id: (\d+)-/.exec(ev.text)[1];
  assert(ev.text === eventText(c, 1), `event is ${JSON.stringify(ev.text)}, want ${JSON.stringify(eventText(c, 1))}`);
  assert(ev.at >= 9950 && ev.at <= 10300, `event #1 arrived at ${ev.at.toFixed(0)} ms, due at 10000 ms`);

  begin('close the client: nginx closes upstream, the server logs the disconnect');
  const mark = srv.log.length;
  s.close();
  await srv.waitLog(`Client disconnected from event stream (connection #${c})`, 3000, undefined, mark);
}

// ---------------------------------------------------------------------------
// 3. curl, as the README shows it.

// The two command lines are read from README.md itself, so that what a
// reader copies is what is tested; its port 8888 becomes the test's port.
function readmeLine(needle) {
  const line = README.split('\n').find((l) => l.startsWith('curl -N ') && l.includes(needle));
  if (!line) throw new Error(`README.md has no curl -N line with ${needle}`);
  return line.trim().replace('127.0.0.1:8888', '127.0.0.1:PORT');
}
const README_CURL_COUNT = readmeLine('count=2');
const README_CURL_RESUME = readmeLine('Last-Event-ID: 7-41');

/** Runs a shell command line (README text with PORT filled in). */
function sh(cmdline, timeout = 10000) {
  return new Promise((resolve) => {
    const t = performance.now();
    execFile('bash', ['-c', cmdline], { timeout, encoding: 'buffer', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? err.signal) : 0, killed: err && err.killed, stdout, stderr: stderr.toString(), ms: performance.now() - t });
    });
  });
}

async function curlCount() {
  const srv = await Server.start('curl-count', []);
  const cmd = README_CURL_COUNT.replace('PORT', srv.port);
  begin(cmd);
  const r = await sh(cmd);
  assert(!r.killed, `curl did not end in 10 s (the stream should close after event #2); got ${JSON.stringify(r.stdout.toString())}`);
  assert(r.code === 0, `curl exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  // C is learnt from the server: its log line for the new stream.
  const line = await srv.waitLog(/Client (connected to|resumed) event stream/, 1000, 'of the new stream');
  const c = newStreamNumber(line.line);
  assert(c, `server logged ${JSON.stringify(line.line)}, want a new stream without Last-Event-Id`);
  assertNumbering(c, srv, 0);
  const want = eventText(c, 1) + eventText(c, 2);
  assert(r.stdout.equals(Buffer.from(want)), `body ${JSON.stringify(r.stdout.toString())}, want ${JSON.stringify(want)}`);
  say(`${r.stdout.length} bytes, exactly events ${c}-1 and ${c}-2 (the server's pid ${srv.pid} in C), in ${r.ms.toFixed(0)} ms`);
  // The server ends the stream after `count`; its log line for that is not
  // in the contract ("Event stream ended after its last event" today).
  await srv.waitLog(new RegExp(`(Client disconnected from event stream|Event stream ended).*\\(connection #${c}\\)`), 1000,
    `saying that stream #${c} ended`);
}

async function curlResume() {
  const srv = await Server.start('curl-resume', []);
  const cmd = README_CURL_RESUME.replace('PORT', srv.port);
  begin(cmd);
  const r = await sh(cmd);
  const want = eventText(7, 42) + eventText(7, 43);
  assert(!r.killed, `curl did not end in 10 s (the stream should close after event 7-43); got ${JSON.stringify(r.stdout.toString())}`);
  assert(r.code === 0, `curl exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  assert(r.stdout.equals(Buffer.from(want)), `body ${JSON.stringify(r.stdout.toString())}, want ${JSON.stringify(want)}`);
  say(`exactly events 7-42 and 7-43, then the end, in ${r.ms.toFixed(0)} ms`);
  await srv.waitLog('Client resumed event stream (connection #7, Last-Event-Id: 7-41)', 1000);

  const done = `curl -sS -i -H 'Last-Event-ID: 7-43' 'http://127.0.0.1:${srv.port}/events?count=43&interval=100'`;
  begin(`${done}: 204 (the stream is over; EventSource stops)`);
  const r2 = await sh(done);
  assert(r2.code === 0, `curl exited ${r2.code}: ${r2.stderr.trim()}`);
  const status = r2.stdout.toString().split('\r\n')[0];
  assert(status === 'HTTP/1.1 204 No Content', `status line ${JSON.stringify(status)}, want "HTTP/1.1 204 No Content"`);
}

function parseHead(text) {
  const [head, ...rest] = text.split('\r\n\r\n');
  const [status, ...lines] = head.split('\r\n');
  const fields = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).toLowerCase();
    (fields[k] ||= []).push(l.slice(i + 1).trim());
  }
  return { status, fields, body: rest.join('\r\n\r\n') };
}

async function curlIndex() {
  const srv = await Server.start('curl-index', []);
  const cmd = `curl -i http://127.0.0.1:${srv.port}/`;
  begin(cmd);
  const r = await sh(cmd);
  assert(r.code === 0, `curl exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  const out = r.stdout.toString('latin1');
  const h = parseHead(out);
  const file = fs.readFileSync(path.join(WWW, 'index.html'));
  assert(h.status === 'HTTP/1.1 200 OK', `status line ${JSON.stringify(h.status)}`);
  assert(/^text\/html\b/.test((h.fields['content-type'] || [''])[0]), `Content-Type ${h.fields['content-type']}, want text/html`);
  assert(h.fields.date, 'no Date field');
  assert(String(h.fields['content-length']) === String(file.length), `Content-Length ${h.fields['content-length']}, want ${file.length}`);
  assert(Buffer.from(h.body, 'latin1').equals(file), 'the body is not www/index.html');
  say(`${h.status}, ${h.fields['content-type']}, ${file.length} bytes of www/index.html`);
}

async function curlEventsHead() {
  const srv = await Server.start('curl-events-head', []);
  const headFile = path.join(TMP, 'events-head.txt');
  const cmd = `curl -sS -N -D ${headFile} -o /dev/null -w '%{time_starttransfer}' 'http://127.0.0.1:${srv.port}/events?count=1&interval=1000'`;
  begin(`${cmd}: the head of /events, at once`);
  const r = await sh(cmd);
  assert(r.code === 0, `curl exited ${r.code}: ${r.stderr.trim()}`);
  const h = parseHead(fs.readFileSync(headFile, 'latin1'));
  const f = (k) => (h.fields[k] || []).join(', ');
  assert(h.status === 'HTTP/1.1 200 OK', `status line ${JSON.stringify(h.status)}`);
  assert(f('content-type') === 'text/event-stream', `Content-Type ${JSON.stringify(f('content-type'))}`);
  assert(f('cache-control') === 'no-cache', `Cache-Control ${JSON.stringify(f('cache-control'))}`);
  assert(f('x-accel-buffering') === 'no', `X-Accel-Buffering ${JSON.stringify(f('x-accel-buffering'))}`);
  assert(h.fields.date, 'no Date field');
  assert(!h.fields['content-length'], `Content-Length ${f('content-length')} on a stream`);
  assert(!h.fields['transfer-encoding'], `Transfer-Encoding ${f('transfer-encoding')} on a stream`);
  const first = Number(r.stdout.toString()) * 1000;
  say(`head fields ${Object.keys(h.fields).join(', ')}; first byte after ${first.toFixed(1)} ms`);
  assert(first < 300, `the head came after ${first.toFixed(0)} ms, want it at once (event #1 is due at 1000 ms)`);
}

// ---------------------------------------------------------------------------
// 4. A second, independent SSE client: the npm `eventsource` package.

async function eventsource() {
  const { EventSource } = await import('eventsource');
  const args = ['--interval', '200'];
  let srv = await Server.start('eventsource', args);
  const port = srv.port;
  const url = `${srv.url}/events`;
  begin(`new EventSource(${url}): 3 events of type my-custom-event, ids C-1, C-2, C-3`);
  const got = [];
  const problems = [];
  let c = null; // the connection number, from the first id
  let opens = 0;
  let errors = 0;
  const es = new EventSource(url);
  onCleanup(() => es.close());
  es.addEventListener('open', () => { opens += 1; });
  es.addEventListener('error', () => { errors += 1; });
  es.addEventListener('message', (e) => problems.push(`an unnamed event: ${JSON.stringify(e.data)}`));
  es.addEventListener('my-custom-event', (e) => {
    const n = got.length + 1;
    if (c === null) c = (/^(\d+)-1$/.exec(e.lastEventId) || [])[1] ?? `(first id ${JSON.stringify(e.lastEventId)})`;
    if (e.type !== 'my-custom-event') problems.push(`event type ${e.type}`);
    if (e.lastEventId !== `${c}-${n}`) problems.push(`event ${n} has id ${JSON.stringify(e.lastEventId)}, want "${c}-${n}"`);
    if (e.data !== eventData(c, n)) problems.push(`event ${n} data ${JSON.stringify(e.data)}, want ${JSON.stringify(eventData(c, n))}`);
    got.push(e.lastEventId);
  });
  await waitFor(() => got.length >= 3 || problems.length, 5000, '3 events');
  assert(!problems.length, problems.join('; '));
  assert(opens === 1, `${opens} open events`);
  await srv.waitLog(`Client connected to event stream (connection #${c}, Last-Event-Id: none)`, 1000);
  assertNumbering(c, srv, 0);

  begin('kill the server (SIGKILL)');
  await srv.stop('SIGKILL');
  await waitFor(() => errors > 0, 5000, 'the error event');
  const k = got.length;
  assert(!problems.length, problems.join('; '));
  say(`received ${c}-1 .. ${c}-${k}`);

  begin(`restart on port ${port}: the library resumes with Last-Event-ID: ${c}-${k}`);
  srv = await restartOnSamePort('eventsource', args, port);
  const line = await srv.waitLog(/Client (resumed|connected to) event stream/, 10000, 'of the reconnecting client');
  const want = `Client resumed event stream (connection #${c}, Last-Event-Id: ${c}-${k})`;
  assert(line.line.includes(want), `server logged ${JSON.stringify(line.line)}, want "${want}"`);
  await waitFor(() => got.length >= k + 2 || problems.length, 5000, `events ${c}-${k + 1} and ${c}-${k + 2}`);
  assert(!problems.length, problems.join('; '));
  assert(opens === 2, `${opens} open events, want 2`);
  say(`then ${c}-${k + 1}, ${c}-${k + 2}: no gap, no repeat`);

  begin('close: the server logs the disconnect');
  const mark = srv.log.length;
  es.close();
  await srv.waitLog(`Client disconnected from event stream (connection #${c})`, 3000, undefined, mark);
}

// ---------------------------------------------------------------------------

const CHECKS = {
  browser, 'nginx-prompt': nginxPrompt, 'nginx-heartbeat': nginxHeartbeat,
  'curl-count': curlCount, 'curl-resume': curlResume, 'curl-index': curlIndex,
  'curl-events-head': curlEventsHead, eventsource,
};

await runCheck('run.mjs', CHECKS);
