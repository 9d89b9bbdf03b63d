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

/** Raised by a failing assertion; the message names the step. */
export class CheckError extends Error {}

/** `msg` may be a function, for messages that can only be built on failure. */
export function assert(cond, msg) {
  if (!cond) throw new CheckError(typeof msg === 'function' ? msg() : msg);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; fails with `what` after `ms`. */
export async function waitFor(fn, ms, what, every = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new CheckError(`timed out after ${ms} ms waiting for ${what}`);
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
 * A running sse-server. `log` holds its stderr lines (also copied to
 * target/e2e/<name>.log); `port` is parsed from the one stdout line.
 * `www` is its --www directory (the repo's www/ unless given); `env`, if
 * given, is added to the environment it starts with.
 */
export class Server {
  static async start(name, args, { port = 0, timeout = 5000, www = WWW, env } = {}) {
    const s = new Server();
    s.name = name;
    s.log = [];
    s.stdout = [];
    serverSerial += 1;
    const logPath = path.join(ARTIFACTS, `${name}.server${serverSerial}.log`);
    s.logFile = fs.createWriteStream(logPath);
    const argv = ['--port', String(port), '--www', www, ...args];
    s.logFile.write(`# ${env ? `${Object.keys(env).join(' ')} set; ` : ''}${BIN} ${argv.join(' ')}\n`);
    s.proc = startProcess(BIN, argv, env ? { env: { ...process.env, ...env } } : {});
    s.exit = null;
    s.proc.exited.then((e) => { s.exit = e; s.logFile.write(`# exited ${JSON.stringify(e)}\n`); });
    lines(s.proc.stderr, (l) => { s.log.push(l); s.logFile.write(l + '\n'); });
    lines(s.proc.stdout, (l) => { s.stdout.push(l); s.logFile.write('# stdout: ' + l + '\n'); });
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
    assert(port === 0 || s.port === port, `server asked for port ${port} listens on ${s.port}`);
    s.url = `http://127.0.0.1:${s.port}`;
    onCleanup(() => s.stop('SIGKILL'));
    return s;
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
