// Helpers shared by the end-to-end checks (run through ../e2e.sh).
//
// Every process started here is recorded and killed when node exits, however
// it exits (normal end, thrown error, SIGINT/SIGTERM/SIGHUP from e2e.sh).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const BIN = process.env.SSE_SERVER_BIN;
export const WWW = process.env.SSE_E2E_WWW;
export const ARTIFACTS = process.env.SSE_E2E_ARTIFACTS; // target/e2e
export const TMP = process.env.SSE_E2E_TMP;             // private temp dir of this run

const children = new Set();
let cleanups = [];

export function onCleanup(fn) { cleanups.push(fn); }

function killAll() {
  for (const c of children) {
    try { process.kill(c.pid, c.exitSignal); } catch { /* already gone */ }
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => process.exit(1));
}

export async function runCleanups() {
  const fns = cleanups.reverse();
  cleanups = [];
  for (const fn of fns) {
    try { await fn(); } catch (e) { console.error(`e2e: cleanup: ${e.message}`); }
  }
  killAll();
}

/** The check this process runs (`node FILE.mjs <check>`), and its step. */
export const check = process.argv[2];
let step = 'setup';
export function say(msg) { console.log(`  [${check}] ${msg}`); }
export function begin(name) { step = name; say(name); }

/**
 * Runs `checks[check]`, its cleanups, then exits: 0 with "PASS <check>",
 * 1 with "FAIL <check>: <step>: <reason>", 2 for a usage error.
 */
export async function runCheck(file, checks) {
  if (!checks[check]) {
    console.error(`usage: node ${file} <${Object.keys(checks).join('|')}>`);
    process.exit(2);
  }
  for (const v of ['SSE_SERVER_BIN', 'SSE_E2E_WWW', 'SSE_E2E_ARTIFACTS', 'SSE_E2E_TMP']) {
    if (!process.env[v]) { console.error(`${v} is not set (run tests/e2e.sh)`); process.exit(2); }
  }
  if (!fs.existsSync(BIN)) { console.log(`FAIL ${check}: no server binary at ${BIN}`); process.exit(1); }
  let failure = null;
  const started = performance.now();
  try {
    await checks[check]();
  } catch (e) {
    failure = e instanceof CheckError ? e.message : (e.stack || String(e));
  }
  await runCleanups();
  const ms = (performance.now() - started).toFixed(0);
  if (failure) {
    console.log(`FAIL ${check}: ${step}: ${failure}`);
    process.exit(1);
  }
  console.log(`PASS ${check} (${ms} ms)`);
  process.exit(0);
}

/** Raised by a failing assertion; the message names the step. */
export class CheckError extends Error {}

/** `msg` may be a function, for messages that can only be built on failure. */
export function assert(cond, msg) {
  if (!cond) throw new CheckError(typeof msg === 'function' ? msg() : msg);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns a truthy value; fails with `what` after `ms`
 * (`what` may be a function, called then, to say how far things got).
 */
export async function waitFor(fn, ms, what, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new CheckError(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(every);
  }
}

/** Spawns a process, records it for the exit handler. */
export function startProcess(cmd, args, opts = {}) {
  const { exitSignal = 'SIGKILL', ...spawnOpts } = opts;
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
  p.exitSignal = exitSignal; // nginx gets SIGTERM so that its master stops the worker
  children.add(p);
  // e2e.sh ends what is listed here should this process be killed outright.
  if (TMP && p.pid) fs.appendFileSync(path.join(TMP, 'pids'), `${p.pid}\t${cmd}\n`);
  p.exited = new Promise((resolve) => p.on('exit', (code, signal) => {
    children.delete(p);
    resolve({ code, signal });
  }));
  p.on('error', () => {}); // reported through `exited`/spawn failure below
  return p;
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let serverSerial = 0;

/**
 * A running sse-server. `log` holds its stderr lines; `port` is parsed from
 * the one stdout line. Its stderr is a file, target/e2e/<name>.server<N>.log
 * (with "# " lines of ours: the command line, stdout, the exit), not a pipe:
 * the server drops log lines that stderr does not take at once (README
 * "Command line"), which a pipe read by this busy process can make happen
 * (the failover check's 1,000 streams did), and a file always takes them.
 * `www` is its --www directory (the repo's www/ unless given); `env`, if
 * given, is added to the environment it starts with.
 */
export class Server {
  static async start(name, args, { port = 0, timeout = 5000, www = WWW, env } = {}) {
    const s = new Server();
    s.name = name;
    s.stdout = [];
    serverSerial += 1;
    const logPath = path.join(ARTIFACTS, `${name}.server${serverSerial}.log`);
    s.logPath = logPath;
    const argv = ['--port', String(port), '--www', www, ...args];
    fs.writeFileSync(logPath, `# ${env ? `${Object.keys(env).join(' ')} set; ` : ''}${BIN} ${argv.join(' ')}\n`);
    const note = (l) => fs.appendFileSync(logPath, `${l}\n`);
    const stderr = fs.openSync(logPath, 'a');
    s.startedAt = Date.now(); // the connection numbers' T is taken after this
    try {
      s.proc = startProcess(BIN, argv, { stdio: ['ignore', 'pipe', stderr], ...(env ? { env: { ...process.env, ...env } } : {}) });
    } finally {
      fs.closeSync(stderr);
    }
    s.pid = s.proc.pid;
    s.exit = null;
    s.proc.exited.then((e) => { s.exit = e; note(`# exited ${JSON.stringify(e)}`); });
    lines(s.proc.stdout, (l) => { s.stdout.push(l); note(`# stdout: ${l}`); });
    try {
      await waitFor(() => s.stdout.length > 0 || s.exit, timeout,
        `"${name}" server to print its "listening on" line`);
    } catch (e) {
      s.proc.kill('SIGKILL');
      throw e;
    }
    if (s.exit) {
      throw new CheckError(`server (${argv.join(' ')}) exited ${JSON.stringify(s.exit)} before listening; stderr: ${s.log.slice(-5).join(' | ')}`);
    }
    const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)\/$/.exec(s.stdout[0]);
    assert(m, `server stdout line is ${JSON.stringify(s.stdout[0])}, want "listening on http://127.0.0.1:PORT/"`);
    s.port = Number(m[1]);
    s.listeningAt = Date.now();
    assert(port === 0 || s.port === port, `server asked for port ${port} listens on ${s.port}`);
    s.url = `http://127.0.0.1:${s.port}`;
    onCleanup(() => s.stop('SIGKILL'));
    return s;
  }

  /** The server's stderr lines so far (complete lines only). */
  get log() {
    const size = fs.statSync(this.logPath).size;
    if (size !== this.logSize) {
      const text = fs.readFileSync(this.logPath, 'utf8');
      this.logSize = size;
      this.logLines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l && !l.startsWith('# '));
    }
    return this.logLines;
  }

  /** Waits for a stderr line matching `re` (string = substring), from line index `from`. */
  async waitLog(re, ms, what, from = 0) {
    const test = typeof re === 'string' ? (l) => l.includes(re) : (l) => re.test(l);
    return waitFor(() => {
      for (let i = from; i < this.log.length; i++) if (test(this.log[i])) return { line: this.log[i], index: i };
      return null;
    }, ms, `server log line ${what || re} (last lines: ${JSON.stringify(this.log.slice(-3))})`);
  }

  hasLog(re, from = 0) {
    const test = typeof re === 'string' ? (l) => l.includes(re) : (l) => re.test(l);
    return this.log.slice(from).some(test);
  }

  async stop(signal = 'SIGTERM', ms = 3000) {
    if (this.exit) return this.exit;
    this.proc.kill(signal);
    const r = await Promise.race([this.proc.exited, sleep(ms).then(() => null)]);
    if (r) return r;
    this.proc.kill('SIGKILL');
    return this.proc.exited;
  }

  /**
   * SIGTERM, and the drain the README promises: the server logs that it
   * shuts down, ends its streams within `drainMs` (its --drain) plus the
   * 1 s grace, and exits 0 on its own. Returns the two log lines.
   */
  async drain(drainMs, what = 'the drain') {
    assert(!this.exit, `the server exited before SIGTERM: ${JSON.stringify(this.exit)}`);
    const mark = this.log.length;
    const t = Date.now();
    this.proc.kill('SIGTERM');
    const limit = drainMs + 1000 + 2000;
    const r = await Promise.race([this.proc.exited, sleep(limit).then(() => null)]);
    assert(r, `${what}: the server did not exit within ${limit} ms of SIGTERM (--drain ${drainMs})`);
    assert(r.code === 0 && r.signal === null, `${what}: the server exited ${JSON.stringify(r)} after SIGTERM, want code 0`);
    const began = this.log.slice(mark).find((l) => /SIGTERM: shutting down;/.test(l));
    const ended = this.log.slice(mark).find((l) => /SIGTERM: shut down after \d+ ms;/.test(l));
    assert(began && ended, () => `${what}: no "SIGTERM: shutting down" / "shut down after" log lines (last lines: ${JSON.stringify(this.log.slice(-3))})`);
    return { began, ended, ms: Date.now() - t };
  }
}

// ---------------------------------------------------------------------------
// Connection numbers: C = T·10^7 + P·10^3 + n (README "The event stream").
// C is kept as a string, as EventSource keeps ids, and taken apart with
// BigInt; it must also stay below 2^53, exact as a Number.

const EPOCH_2025 = 1735689600n;

/** C of the log line `Client connected to event stream (connection #C, Last-Event-Id: none)`, or null. */
export function newStreamNumber(line) {
  const m = /Client connected to event stream \(connection #(\d+), Last-Event-Id: none\)/.exec(line);
  return m ? m[1] : null;
}

/**
 * Checks that `c` is the `n`th new stream number of server `srv` with the
 * default numbering: P is its process id modulo 10,000, T the time it
 * started (seconds since 2025-01-01 UTC), n as given.
 */
export function assertNumbering(c, srv, n) {
  const v = BigInt(c);
  const t = v / 10000000n;
  const p = (v / 1000n) % 10000n;
  const k = v % 1000n;
  const wantP = BigInt(srv.pid) % 10000n;
  assert(v < 2n ** 53n, `connection number ${c} is not exact as a JavaScript Number`);
  const t0 = BigInt(Math.floor(srv.startedAt / 1000)) - EPOCH_2025;
  const t1 = BigInt(Math.ceil(srv.listeningAt / 1000)) - EPOCH_2025;
  assert(p === wantP && k === BigInt(n) && t >= t0 && t <= t1,
    `connection number ${c} is T ${t}, P ${p}, n ${k}: want P ${wantP} (pid ${srv.pid}), n ${n}, `
    + `T from ${t0} to ${t1} (when the server started)`);
}

/**
 * Restarts a server on the port it had. The old listening socket is gone once
 * the process has exited; retry briefly in case the kernel is slow about it.
 */
export async function restartOnSamePort(name, args, port, opts = {}) {
  let last;
  for (let i = 0; i < 10; i++) {
    try {
      return await Server.start(name, args, { ...opts, port });
    } catch (e) {
      last = e;
      await sleep(200);
    }
  }
  throw new CheckError(`could not restart server on port ${port}: ${last.message}`);
}

/** Headless Chromium (Debian's, never a download), as the checks run it. */
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Launches Chromium through playwright-core with a fresh profile in TMP (so
 * e2e.sh finds it by its command line should node be killed outright), and
 * closes it at cleanup. Returns the browser context; its pages share it.
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(TMP, 'chromium-profile-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000,
  });
  onCleanup(() => ctx.close());
  ctx.profile = profile;
  return ctx;
}

function lines(stream, fn) {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      fn(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => { if (buf) fn(buf); });
}

/** The exact bytes of event N of connection C (PROTOCOL.md section 3). */
export function eventText(c, n) {
  return `event: my-custom-event\nid: ${c}-${n}\ndata: ${eventData(c, n)}\n\n`;
}
export function eventData(c, n) {
  return `Server says hi! (event #${n} of connection #${c})`;
}

// ---------------------------------------------------------------------------
// nginx in front (Debian's nginx, its own prefix in TMP), configured with the
// snippets of README.md's section "Behind nginx", so that what a reader
// copies is what is tested.

export const README = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';

/** The ```nginx blocks of README.md's section "Behind nginx", in order. */
export function readmeNginxBlocks() {
  const section = README.split(/^## /m).find((s) => s.startsWith('Behind nginx\n'));
  if (!section) throw new CheckError('README.md has no section "## Behind nginx"');
  return [...section.matchAll(/^```nginx\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** `text` with `from` (a string found exactly once) replaced by `to`. */
function replaceOnce(text, from, to, what) {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new CheckError(`README.md's nginx snippet has ${n} times ${JSON.stringify(from)}, want once (${what})`);
  return text.replace(from, () => to);
}

/**
 * The server-level configuration for one test: README's location snippet
 * (the first ```nginx block) with its upstream `127.0.0.1:8888` replaced,
 * and, as asked:
 *   upstreams: [port, port]  README's `upstream` block (the second) with
 *                            these ports, proxied to by name, with
 *                            `proxy_next_upstream error timeout` said
 *   upstreamPort: port       one sse-server
 *   readTimeout: '3s'        in place of README's 60s
 *   prefix: '/sse/'          the location under a sub-path (README: a
 *                            trailing / on proxy_pass strips it)
 *   withoutRetry: true       README's snippet without its error_page line:
 *                            the control, nginx as it answers by default
 */
export function nginxSite({ upstreamPort, upstreams, readTimeout, prefix, withoutRetry } = {}) {
  const [locations, upstreamBlock] = readmeNginxBlocks();
  if (!locations) throw new CheckError('README.md\'s "Behind nginx" has no ```nginx block');
  const pass = 'proxy_pass http://127.0.0.1:8888;';
  let conf = locations;
  let http = '';
  if (upstreams) {
    if (!upstreamBlock) throw new CheckError('README.md\'s "Behind nginx" has no second ```nginx block (the upstream)');
    const name = /^upstream (\S+) \{/m.exec(upstreamBlock);
    if (!name) throw new CheckError(`README.md's second nginx block is not an upstream: ${JSON.stringify(upstreamBlock)}`);
    http = replaceOnce(upstreamBlock, 'server 127.0.0.1:8888;', `server 127.0.0.1:${upstreams[0]};`, 'the first upstream server');
    http = replaceOnce(http, 'server 127.0.0.1:8889;', `server 127.0.0.1:${upstreams[1]};`, 'the second upstream server');
    // nginx's default, said here because the check is about it: a refused
    // connection (or a timeout) is tried again on the next server.
    conf = replaceOnce(conf, pass, `proxy_pass http://${name[1]};\n    proxy_next_upstream error timeout;`, 'proxy_pass');
  } else {
    conf = replaceOnce(conf, pass, `proxy_pass http://127.0.0.1:${upstreamPort}${prefix ? '/' : ''};`, 'proxy_pass');
  }
  if (prefix) conf = replaceOnce(conf, 'location / {', `location ${prefix} {`, 'the location');
  if (readTimeout) conf = replaceOnce(conf, 'proxy_read_timeout 60s;', `proxy_read_timeout ${readTimeout};`, 'proxy_read_timeout');
  if (withoutRetry) {
    const line = conf.split('\n').find((l) => /^\s*error_page /.test(l));
    if (!line) throw new CheckError('README.md\'s nginx snippet has no error_page line');
    conf = replaceOnce(conf, `${line}\n`, '', 'the error_page line');
  }
  return { http, server: conf };
}

/**
 * Starts nginx with tests/e2e/nginx.conf.template around `site` (from
 * nginxSite); ends it at cleanup and copies its logs to target/e2e as
 * `<name>.nginx-<port>.{error,access}.log`.
 */
export async function startNginx(name, site, say = () => {}) {
  const template = fs.readFileSync(process.env.SSE_E2E_NGINX_TEMPLATE || new URL('./nginx.conf.template', import.meta.url), 'utf8');
  const indent = (text, pad) => text.trimEnd().split('\n').map((l) => (l ? pad + l : l)).join('\n');
  for (let attempt = 1; ; attempt++) {
    const prefix = fs.mkdtempSync(path.join(TMP, 'nginx-'));
    fs.chmodSync(prefix, 0o755); // the worker (nobody when run as root) reads its temp paths
    const port = await freePort();
    const conf = template.replaceAll('@PREFIX@', prefix)
      .replaceAll('@PORT@', String(port))
      .replace('@HTTP@', () => indent(site.http, '    '))
      .replace('@SERVER@', () => indent(site.server, '        '));
    const confPath = path.join(prefix, 'nginx.conf');
    fs.writeFileSync(confPath, conf);
    const errorLog = path.join(prefix, 'error.log');
    const accessLog = path.join(prefix, 'access.log');
    const proc = startProcess(NGINX, ['-e', errorLog, '-p', prefix, '-c', confPath, '-g', 'daemon off;'],
      { exitSignal: 'SIGTERM' });
    let exit = null;
    proc.exited.then((e) => { exit = e; });
    const stop = async () => {
      if (!exit) {
        proc.kill('SIGTERM'); // fast shutdown: the master stops its worker too
        const r = await Promise.race([proc.exited, sleep(3000).then(() => null)]);
        if (!r) proc.kill('SIGKILL');
      }
      for (const [f, kind] of [[errorLog, 'error'], [accessLog, 'access']]) {
        if (fs.existsSync(f)) fs.copyFileSync(f, path.join(ARTIFACTS, `${name}.nginx-${port}.${kind}.log`));
      }
    };
    onCleanup(stop);
    const ok = await waitFor(async () => exit || (await canConnect(port)), 5000, 'nginx to listen');
    if (ok === true) {
      say(`nginx (pid ${proc.pid}) on 127.0.0.1:${port}, config ${confPath}`);
      const read = (f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
      return { port, prefix, conf: confPath, stop, errorLog: () => read(errorLog), accessLog: () => read(accessLog) };
    }
    const log = fs.existsSync(errorLog) ? fs.readFileSync(errorLog, 'utf8') : '';
    if (attempt < 3 && log.includes('Address already in use')) continue;
    throw new CheckError(`nginx exited ${JSON.stringify(exit)}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
  }
}

export function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------
// What a page's EventSource really received, through the DevTools protocol.

/**
 * Records every EventSource request of `page`: for each, in order,
 * { id, url, sent, status, headers, body, end, failed }, `sent` and `end`
 * being the browser's own timestamps in ms (one clock for all requests),
 * `body` the exact bytes received (a live stream's as they come). Network
 * .streamResourceContent gives a live stream's bytes; a response that has
 * already ended by then (a short answer) is read with getResponseBody.
 */
export async function recordEventSources(ctx, page) {
  const cdp = await ctx.newCDPSession(page);
  const list = [];
  const byId = new Map();
  const get = (id) => byId.get(id);
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.type !== 'EventSource') return;
    const r = { id: e.requestId, url: e.request.url, sent: e.timestamp * 1000, status: null, headers: {},
      buffered: null, chunks: [], end: null, failed: null, streaming: null };
    Object.defineProperty(r, 'body', { get: () => (r.buffered ?? '') + r.chunks.join(''), enumerable: true });
    byId.set(e.requestId, r);
    list.push(r);
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = get(e.requestId);
    if (!r) return;
    r.status = e.response.status;
    r.headers = e.response.headers;
    r.streaming = cdp.send('Network.streamResourceContent', { requestId: e.requestId })
      .then((x) => { r.buffered = Buffer.from(x.bufferedData, 'base64').toString('utf8'); return true; })
      .catch(() => false);
  });
  cdp.on('Network.dataReceived', (e) => {
    const r = get(e.requestId);
    if (r && e.data) r.chunks.push(Buffer.from(e.data, 'base64').toString('utf8'));
  });
  cdp.on('Network.loadingFinished', async (e) => {
    const r = get(e.requestId);
    if (!r) return;
    const t = e.timestamp * 1000;
    if (r.streaming && !(await r.streaming)) {
      const b = await cdp.send('Network.getResponseBody', { requestId: e.requestId }).catch((err) => ({ body: `<${err.message}>` }));
      r.buffered = b.base64Encoded ? Buffer.from(b.body, 'base64').toString('utf8') : b.body;
    }
    r.end = t;
  });
  cdp.on('Network.loadingFailed', (e) => {
    const r = get(e.requestId);
    if (!r) return;
    r.failed = e.errorText;
    r.end = e.timestamp * 1000;
  });
  await cdp.send('Network.enable');
  return list;
}


// ---------------------------------------------------------------------------
// The demo page, www/index.html.

const pageItems = (page) => page.$$eval('#log li', (els) => els.map((e) => e.textContent));

export const CONNECTED = 'Server connected :)';
export const UNAVAILABLE = 'Server unavailable :(';

/**
 * Helpers on the demo page: its #log items, waiting on them, and the check
 * that the events it shows are 1, 2, ... of connection `c` with nothing but
 * connected/unavailable lines in between: no gap, no repeat.
 */
export function demoPage(page) {
  const items = () => pageItems(page);
  const waitItems = async (what, ms, pred, arg) => {
    try {
      await page.waitForFunction(
        ({ src, arg }) => {
          const list = [...document.querySelectorAll('#log li')].map((e) => e.textContent);
          return new Function('list', 'arg', src)(list, arg);
        },
        { src: pred, arg }, { timeout: ms, polling: 50 },
      );
    } catch (e) {
      throw new CheckError(`timed out after ${ms} ms waiting for ${what}; page shows ${JSON.stringify(await items())}`);
    }
  };
  const eventsOf = (list, c) => {
    const evs = list.filter((t) => t !== CONNECTED && t !== UNAVAILABLE);
    evs.forEach((t, i) => assert(t === eventData(c, i + 1),
      `page item ${JSON.stringify(t)} where ${JSON.stringify(eventData(c, i + 1))} was due (all: ${JSON.stringify(list)})`));
    return evs.length;
  };
  return { items, waitItems, eventsOf, lastId: () => page.textContent('#last-id') };
}

/** The exact bytes of events `from`..`to` of connection `c`. */
export const eventsText = (c, from, to) => Array.from({ length: to - from + 1 }, (_, i) => eventText(c, from + i)).join('');
