// nginx in front of sse-server (proxy_buffering on, proxy_http_version 1.1;
// nginx.conf.template): is every scenario's stream passed through byte for
// byte, and at once?
//   SSE_URL=http://127.0.0.1:P NGINX_URL=http://127.0.0.1:N node run-nginx.mjs
// For each connection of each scenario's session, one raw HTTP/1.1 client
// (a TCP socket, no HTTP library) GETs the stream directly and another GETs
// it through nginx, at the same time, with the same Last-Event-ID (none for
// the first connection; for the next ones, the last event ID the bodies
// before set, as an EventSource would send it). Each read is timestamped.
// The body through nginx (chunked framing removed) is compared with
// /scenarios/NAME/raw for that Last-Event-ID, the status and Content-Type
// with the direct answer, and the arrival time of every byte with the
// direct one: a byte that came through nginx more than HOLD_MS later than
// directly was held back (buffered).
// Writes $COMPAT_OUT/results/nginx.json.
import { spawnSync } from 'node:child_process';
import net from 'node:net';

import { BASE, debVersion, loadScenarios, pool, say, writeResult } from './lib.mjs';

const client = 'nginx';
const NGINX = process.env.NGINX_URL;
const NGINX_BIN = process.env.NGINX_BIN || '/usr/sbin/nginx';
const OPEN_WINDOW_MS = 2500; // how long a stream that stays open is read
const MAX_MS = 10000;        // a stream that should end and has not by then is cut by the client
const HOLD_MS = 100;         // later than this through nginx than directly: held back
const CONCURRENCY = 4;

/**
 * GET `target` from `base` over a raw socket. Resolves to
 * { status, headers, framing, body (Buffer), arrivals: [[ms, body bytes so far]],
 *   reads, chunks, end: "close"|"reset"|"window"|"timeout"|"error: ..." }.
 */
function rawGet(base, target, lastId, windowMs) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const t0 = performance.now();
    // allowHalfOpen: at the end of the input, a probe write tells a clean
    // close (FIN: the write goes through) from a reset (it fails at once).
    // Node's own 'end' does not: libuv reports a reset after a short read
    // as an end of file.
    const sock = net.connect({ port: Number(port), host: hostname, allowHalfOpen: true });
    let buf = Buffer.alloc(0);
    let head = null;
    const r = { status: null, headers: {}, framing: null, body: Buffer.alloc(0), arrivals: [], reads: 0, chunks: 0, lastChunk: false, end: null };
    const bodyParts = [];
    let bodyLen = 0;
    let chunkLeft = -1; // chunked: bytes left in the current chunk (-1: expecting a size line)
    let contentLeft = null;
    const finish = (end) => {
      if (r.end) return;
      r.end = end;
      clearTimeout(timer);
      r.body = Buffer.concat(bodyParts);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(windowMs ? 'window' : 'timeout'), windowMs || MAX_MS);
    const addBody = (b) => { if (b.length) { bodyParts.push(b); bodyLen += b.length; } };
    const consume = () => {
      if (!head) {
        const i = buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const lines = buf.subarray(0, i).toString('latin1').split('\r\n');
        r.status = Number(lines[0].split(' ')[1]);
        for (const l of lines.slice(1)) {
          const k = l.indexOf(':');
          r.headers[l.slice(0, k).toLowerCase()] = l.slice(k + 1).trim();
        }
        head = true;
        buf = buf.subarray(i + 4);
        if (/chunked/i.test(r.headers['transfer-encoding'] || '')) r.framing = 'chunked';
        else if (r.headers['content-length'] !== undefined) { r.framing = 'content-length'; contentLeft = Number(r.headers['content-length']); }
        else r.framing = 'close';
      }
      if (r.framing === 'close') { addBody(buf); buf = Buffer.alloc(0); return; }
      if (r.framing === 'content-length') {
        const take = buf.subarray(0, contentLeft);
        addBody(take);
        contentLeft -= take.length;
        buf = buf.subarray(take.length);
        if (contentLeft === 0) finish('close');
        return;
      }
      // Chunked: size line, data, CRLF; a size of 0 is the last chunk.
      for (;;) {
        if (chunkLeft < 0) {
          const i = buf.indexOf('\r\n');
          if (i < 0) return;
          const size = parseInt(buf.subarray(0, i).toString('latin1').split(';')[0], 16);
          buf = buf.subarray(i + 2);
          if (size === 0) { r.lastChunk = true; finish('close'); return; }
          r.chunks += 1;
          chunkLeft = size;
        }
        const take = buf.subarray(0, chunkLeft);
        addBody(take);
        chunkLeft -= take.length;
        buf = buf.subarray(take.length);
        if (chunkLeft > 0) return;
        if (buf.length < 2) return; // the CRLF after the data: wait for it
        buf = buf.subarray(2);
        chunkLeft = -1;
      }
    };
    sock.on('connect', () => {
      sock.setNoDelay(true);
      sock.write(`GET ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n`
        + `${lastId !== null ? `Last-Event-ID: ${lastId}\r\n` : ''}Connection: close\r\n\r\n`);
    });
    sock.on('data', (d) => {
      r.reads += 1;
      buf = Buffer.concat([buf, d]);
      const before = bodyLen;
      consume();
      if (bodyLen > before) r.arrivals.push([performance.now() - t0, bodyLen]);
    });
    sock.on('end', () => {
      if (r.end) return;
      sock.write('\r\n', (e) => finish(e ? (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'reset' : `error: ${e.code}`) : 'close'));
    });
    sock.on('error', (e) => finish(e.code === 'ECONNRESET' ? 'reset' : `error: ${e.code || e.message}`));
  });
}

/** When byte `offset` arrived: the time of the first read that took the body past it. */
function arrivalOf(arrivals, offset) {
  const a = arrivals.find(([, len]) => len > offset);
  return a ? a[0] : null;
}

/**
 * The last event ID after reading `bytes` on a connection that started
 * with `prev` (WHATWG HTML §9.2.6: complete lines only; `id` without NUL
 * sets the buffer; a blank line dispatches, which sets the last event ID).
 */
function lastIdAfter(bytes, prev) {
  const lines = new TextDecoder().decode(bytes).split(/\r\n|\r|\n/);
  lines.pop(); // the unfinished line
  let buffer = prev ?? '';
  let last = prev ?? '';
  for (const line of lines) {
    if (line === '') { last = buffer; continue; }
    const i = line.indexOf(':');
    const name = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'id' && !value.includes('\0')) buffer = value;
  }
  return last;
}

/** One connection: direct and through nginx at once; what differs. */
async function connection(s, lastId, open) {
  const rawRes = await fetch(BASE + s.raw, { headers: lastId !== null ? { 'Last-Event-ID': lastId } : {} });
  const raw = Buffer.from(await rawRes.arrayBuffer());
  const windowMs = open ? OPEN_WINDOW_MS : 0;
  const [direct, proxied] = await Promise.all([
    rawGet(BASE, s.url, lastId, windowMs), rawGet(NGINX, s.url, lastId, windowMs),
  ]);
  const isStream = direct.status === 200 && /^text\/event-stream/.test(direct.headers['content-type'] || '');
  // The reference: /raw for a stream; the direct body for anything else
  // (/raw is the body a client's parser reads: none for a 404).
  const ref = isStream ? raw : direct.body;
  const diffs = [];
  if (proxied.status === null) diffs.push(`no response head (${proxied.end})`);
  else if (proxied.status !== direct.status) diffs.push(`status ${proxied.status}, direct ${direct.status}`);
  if (proxied.status !== null && (proxied.headers['content-type'] || '') !== (direct.headers['content-type'] || '')) {
    diffs.push(`Content-Type ${JSON.stringify(proxied.headers['content-type'])}, direct ${JSON.stringify(direct.headers['content-type'])}`);
  }
  if (proxied.status !== null && (proxied.headers.location || '') !== (direct.headers.location || '')) {
    diffs.push(`Location ${JSON.stringify(proxied.headers.location)}, direct ${JSON.stringify(direct.headers.location)}`);
  }
  let body;
  const b = proxied.body;
  if (open) {
    // Read for a while only: the same bytes as directly, starting with /raw.
    const n = Math.min(b.length, direct.body.length);
    if (!b.subarray(0, ref.length).equals(ref) && !ref.subarray(0, b.length).equals(b)) body = 'differs from /raw';
    else if (!b.subarray(0, n).equals(direct.body.subarray(0, n))) body = 'differs from the direct body';
    else if (b.length < direct.body.length) body = `held back: ${b.length} of the ${direct.body.length} bytes that came directly in ${OPEN_WINDOW_MS} ms`;
    else body = 'identical';
  } else if (b.equals(ref)) body = 'identical';
  else if (ref.subarray(0, b.length).equals(b)) body = `cut: ${b.length} of ${ref.length} bytes`;
  else {
    let i = 0;
    while (i < b.length && i < ref.length && b[i] === ref[i]) i++;
    body = `differs from byte ${i} (${b.length} bytes, expected ${ref.length})`;
  }
  if (body !== 'identical') diffs.push(`body ${body}`);
  // How the end came through: a clean end of the stream must stay clean
  // (nginx's last chunk), a reset must not become one.
  let end;
  let endOk;
  if (open) {
    endOk = proxied.end === 'window';
    end = endOk ? 'open' : `open directly; through nginx ${proxied.end}`;
  } else if (direct.end === 'close') {
    endOk = proxied.end === 'close' && (proxied.framing !== 'chunked' || proxied.lastChunk);
    end = endOk ? 'clean' : `clean directly; through nginx ${proxied.end}${proxied.framing === 'chunked' && !proxied.lastChunk ? ' without the last chunk' : ''}`;
  } else if (direct.end === 'reset') {
    endOk = proxied.framing === 'chunked' ? !proxied.lastChunk : proxied.end === 'reset';
    end = endOk ? 'reset → no last chunk (still an error)' : 'reset → a clean end: the error is hidden';
  } else {
    endOk = false;
    end = `direct ${direct.end}, through nginx ${proxied.end}`;
  }
  if (!endOk) diffs.push(`end: ${end}`);
  // Held back: the largest delay of a byte through nginx over the direct
  // one, at the last byte of every read on either side.
  let heldMs = 0;
  for (const [, len] of [...proxied.arrivals, ...direct.arrivals]) {
    const td = arrivalOf(direct.arrivals, len - 1);
    const tn = arrivalOf(proxied.arrivals, len - 1);
    if (td !== null && tn !== null) heldMs = Math.max(heldMs, tn - td);
  }
  if (heldMs > HOLD_MS) diffs.push(`held back up to ${Math.round(heldMs)} ms`);
  const framing = proxied.framing === 'chunked' ? `chunked, ${proxied.chunks} chunk${proxied.chunks === 1 ? '' : 's'}` : proxied.framing;
  return {
    lastId, status: proxied.status, directStatus: direct.status, isStream,
    bytes: b.length, refBytes: ref.length, body, end, heldMs: Math.round(heldMs), diffs,
    framing, directFraming: `${direct.framing === 'close' ? 'ends at the close' : direct.framing}, ${direct.reads} read${direct.reads === 1 ? '' : 's'}`,
    next: isStream ? lastIdAfter(direct.body, lastId) : null,
  };
}

async function one(s) {
  const conns = [];
  let lastId = null;
  for (let i = 0; i < s.expected.connections; i++) {
    const open = s.expected.end === 'open' && i === s.expected.connections - 1;
    const c = await connection(s, lastId, open);
    conns.push(c);
    if (!c.isStream) break;
    lastId = c.next === '' ? null : c.next;
  }
  const diffs = conns.flatMap((c, i) => c.diffs.map((d) => (conns.length > 1 ? `connection ${i + 1}: ${d}` : d)));
  return { verdict: diffs.length ? diffs.join('; ') : null, connections: conns };
}

const started = performance.now();
const scenarios = loadScenarios();
const out = await pool(scenarios, CONCURRENCY, async (s) => {
  const t = performance.now();
  const r = await one(s).catch((e) => ({ error: String(e.stack || e).split('\n')[0] }));
  r.ms = Math.round(performance.now() - t);
  say(client, `${s.name}: ${r.error ? `error: ${r.error}` : r.verdict || 'identical'} (${r.ms} ms)`);
  return r;
});
const results = {};
scenarios.forEach((s, i) => { results[s.name] = out[i]; });
// nginx -v prints its version on stderr.
const v = spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' });
const version = `${v.stderr || v.stdout || ''}`.trim().replace(/^nginx version: /, '') || `unknown (${NGINX_BIN} -v failed)`;
writeResult(client, {
  versions: { proxy: `${version}${debVersion('nginx') ? ` (Debian package ${debVersion('nginx')})` : ''}` },
  ms: Math.round(performance.now() - started),
  scenarios: results,
});
