// sse-bench's session mode against every scenario:
//   sse-bench --session --port P --path /scenarios/NAME --connections K --open-ms 1500
// prints exactly the /expected JSON for what it saw (its own EventSource
// rules, reconnections included), so its output is compared as it is.
// Built behind a check: when target/release/sse-bench has no --session
// (its branch not merged yet), the column is reported as not available.
//   SSE_URL=... SSE_BENCH_BIN=target/release/sse-bench node run-ssebench.mjs
// Writes $COMPAT_OUT/results/sse-bench.json.
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { BASE, TIMING, loadScenarios, pool, say, writeResult } from './lib.mjs';

const client = 'sse-bench';
const BIN = process.env.SSE_BENCH_BIN;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOWN = path.relative(ROOT, BIN); // as COMPAT.md shows it
const CONCURRENCY = 4;
const PER_SCENARIO_MS = TIMING.timeoutMs + 8000;

function help() {
  try {
    return execFileSync(BIN, ['--help'], { encoding: 'utf8', timeout: 5000 });
  } catch (e) {
    return String(e.stdout || '') + String(e.stderr || '');
  }
}

function run(s) {
  const port = new URL(BASE).port;
  const args = ['--session', '--port', port, '--path', s.url,
    '--connections', String(s.expected.connections), '--open-ms', String(TIMING.quietMs)];
  return new Promise((resolve) => {
    execFile(BIN, args, { encoding: 'utf8', timeout: PER_SCENARIO_MS, killSignal: 'SIGKILL', maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const cmd = `sse-bench ${args.join(' ')}`;
        if (err && err.killed) return resolve({ error: `no answer in ${PER_SCENARIO_MS} ms`, cmd });
        try {
          const got = JSON.parse(stdout);
          resolve({ got, cmd, ...(err ? { exit: err.code } : {}), stderr: stderr.trim().split('\n').slice(-3).join(' | ') || undefined });
        } catch {
          resolve({ error: `exit ${err ? err.code : 0}, no JSON on stdout: ${JSON.stringify(stdout.slice(0, 200))} ${stderr.trim().split('\n').slice(-2).join(' | ')}`, cmd });
        }
      });
  });
}

const started = performance.now();
const h = help();
let version = '';
try { version = execFileSync(BIN, ['--version'], { encoding: 'utf8', timeout: 5000 }).trim(); } catch { /* below */ }
if (!/--session/.test(h)) {
  const why = `\`${SHOWN} --help\` does not mention \`--session\`: this build of sse-bench has no session mode yet (branch sse-bench-session not merged)`;
  say(client, `not available: ${why}`);
  writeResult(client, { unavailable: why, versions: { tool: version }, scenarios: {} });
} else {
  const scenarios = loadScenarios();
  const out = await pool(scenarios, CONCURRENCY, async (s) => {
    const t = performance.now();
    const r = await run(s);
    r.ms = Math.round(performance.now() - t);
    say(client, `${s.name}: ${r.error ? `error: ${r.error}` : `${r.got.end}, ${r.got.events.length} events, ${r.got.connections} connections, retry ${r.got.retry}`} (${r.ms} ms)`);
    return r;
  });
  const results = {};
  scenarios.forEach((s, i) => { results[s.name] = out[i]; });
  writeResult(client, { versions: { tool: version }, ms: Math.round(performance.now() - started), scenarios: results });
}
