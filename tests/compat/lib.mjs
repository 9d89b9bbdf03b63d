// Helpers shared by the compatibility runners (run through ../compat.sh).
//
// compat.sh starts one sse-server per client and passes its base URL in
// SSE_URL; the scenario index and every expectation were saved once, before
// the clients run, in $COMPAT_OUT/expected.json (prepare.mjs). Each runner
// writes $COMPAT_OUT/results/<client>.json, which report.mjs reads.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const OUT = process.env.COMPAT_OUT;   // target/compat
export const BASE = process.env.SSE_URL;     // http://127.0.0.1:PORT (this client's server)
export const TMP = process.env.COMPAT_TMP;   // private temp dir of this run (browser profiles)
/** Only these scenarios, when set (COMPAT_ONLY="basic eol-cr"): for debugging. */
const ONLY = (process.env.COMPAT_ONLY || '').split(/[\s,]+/).filter(Boolean);

// Timing of a session (see session.mjs and COMPAT.md, "Method").
export const TIMING = {
  quietMs: 1500,     // open: no event for this long after the expected ones
  lonelyMs: 4000,    // open: no event for this long, however many came
  timeoutMs: 12000,  // a session that has not ended by then is cut: "no end"
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The scenarios and their expectations, as prepare.mjs saved them. */
export function loadScenarios() {
  const all = JSON.parse(fs.readFileSync(path.join(OUT, 'expected.json'), 'utf8')).scenarios;
  return ONLY.length ? all.filter((s) => ONLY.includes(s.name)) : all;
}

/** The event types a listener must be added for: `message` and each type the expectation has. */
export function typesOf(expected) {
  return [...new Set(['message', ...expected.events.map((e) => e.type)])]
    .filter((t) => t !== 'open' && t !== 'error');
}

/** Writes this client's results for report.mjs. */
export function writeResult(client, result) {
  const dir = path.join(OUT, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${client}.json`), JSON.stringify({ client, ...result }));
}

/** Runs `fn` on every item, at most `n` at a time; results in order. */
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** Resolves to `p`'s value, or to `onTimeout()` after `ms`. */
export function withTimeout(p, ms, onTimeout) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((resolve) => { t = setTimeout(() => resolve(onTimeout()), ms); }),
  ]);
}

export function say(client, msg) { console.log(`  [${client}] ${msg}`); }

/** A package's version, from its package.json under tests/compat/node_modules. */
export function npmVersion(name) {
  const p = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(fs.readFileSync(p, 'utf8')).version;
}

/** A Debian package's installed version (dpkg-query), or null. */
export function debVersion(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout ? r.stdout.trim() : null;
}
