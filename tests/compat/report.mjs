// Reads $COMPAT_OUT/expected.json, $COMPAT_OUT/results/*.json and
// known-divergences.json; writes COMPAT.md ($COMPAT_MD); prints the
// per-client summary; exits 1 when a gated client (Chromium, sse-bench)
// differs from the expectation on a scenario that known-divergences.json
// does not list for it, or could not be run (sse-bench without its session
// mode is "not available", not a failure). Other clients are reported,
// never fatal.
import fs from 'node:fs';
import path from 'node:path';

import { describe } from './compare.mjs';
import { OUT, TIMING } from './lib.mjs';

const MD = process.env.COMPAT_MD;
const KNOWN_FILE = new URL('./known-divergences.json', import.meta.url);

// The columns, in order. `gated`: a divergence not listed as known fails the run.
const CLIENTS = [
  { id: 'chromium', label: 'Chromium', gated: true, browser: true, opts: {} },
  { id: 'firefox', label: 'Firefox ESR', gated: false, browser: true, opts: {} },
  { id: 'eventsource', label: 'eventsource (npm)', gated: false, opts: { retrySlackMs: 250 } },
  { id: 'python', label: 'httpx-sse (Python)', gated: false, opts: {} },
  { id: 'sse-bench', label: 'sse-bench', gated: true, opts: {} },
];

const scenarios = JSON.parse(fs.readFileSync(path.join(OUT, 'expected.json'), 'utf8')).scenarios;
const known = JSON.parse(fs.readFileSync(KNOWN_FILE, 'utf8'));
const results = {};
for (const c of [...CLIENTS, { id: 'nginx' }]) {
  const f = path.join(OUT, 'results', `${c.id}.json`);
  results[c.id] = fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
}
// The clients this run was asked for (tests/compat.sh CLIENT...); all by default.
const asked = (process.env.COMPAT_CLIENTS || '').split(/\s+/).filter(Boolean);
const wasAsked = (id) => asked.length === 0 || asked.includes(id);
const runInfo = fs.existsSync(path.join(OUT, 'run.json')) ? JSON.parse(fs.readFileSync(path.join(OUT, 'run.json'), 'utf8')) : {};

const problems = []; // what makes the run fail
const warnings = [];
const names = new Set(scenarios.map((s) => s.name));
for (const k of known) {
  if (!names.has(k.scenario)) warnings.push(`known-divergences.json names an unknown scenario: ${k.scenario}`);
  if (![...CLIENTS.map((c) => c.id), 'nginx'].includes(k.client)) warnings.push(`known-divergences.json names an unknown client: ${k.client}`);
  if (!k.reason) warnings.push(`known-divergences.json: ${k.scenario}/${k.client} has no reason`);
}
const knownOf = (client, scenario) => known.find((k) => k.client === client && k.scenario === scenario);

/** What the table shows for one client on one scenario: { text, status }. */
function cell(c, s) {
  const r = results[c.id];
  const x = r && r.scenarios ? r.scenarios[s.name] : undefined;
  if (!x) return { status: 'none', text: '—' };
  if (x.skipped) return { status: 'skipped', text: `skipped: ${x.skipped}` };
  if (x.error) return { status: 'error', text: `not judged: ${x.error}` };
  const opts = { ...c.opts, timeoutMs: TIMING.timeoutMs };
  if (c.id === 'eventsource') opts.defaultRetry = r.defaultRetry;
  const d = describe(s.expected, x.got, opts);
  if (!d) return { status: 'ok', text: 'as expected' };
  return { status: knownOf(c.id, s.name) ? 'known' : 'divergent', text: d };
}

const shown = []; // the clients that get a column
const notShown = []; // [client, why]
for (const c of CLIENTS) {
  const r = results[c.id];
  if (!wasAsked(c.id)) notShown.push([c, 'not asked for in this run (`tests/compat.sh CLIENT...`)']);
  else if (!r) notShown.push([c, 'its runner wrote no result (see target/compat/' + c.id + '.log)']);
  else if (r.unavailable) notShown.push([c, r.unavailable]);
  else if (r.failed) notShown.push([c, `it could not be run:\n\n\`\`\`\n${r.failed}\n\`\`\``]);
  else shown.push(c);
}

// The gate: every (gated client, scenario) pair passes when it is as
// expected, a known divergence, or skipped (not for browsers).
let passed = 0;
for (const c of CLIENTS.filter((x) => x.gated && wasAsked(x.id))) {
  const r = results[c.id];
  if (!r) problems.push(`${c.label}: no result`);
  else if (r.failed) problems.push(`${c.label}: could not be run: ${r.failed.split('\n')[0]}`);
  if (!r || r.failed || r.unavailable) continue;
  for (const s of scenarios) {
    const x = cell(c, s);
    if (x.status === 'divergent') problems.push(`${c.label} on ${s.name}: ${x.text} (not in known-divergences.json)`);
    else if (x.status === 'error') problems.push(`${c.label} on ${s.name}: ${x.text}`);
    else if (x.status === 'none') problems.push(`${c.label} on ${s.name}: no result`);
    else passed += 1;
  }
}

// --- COMPAT.md ---------------------------------------------------------------

const esc = (t) => String(t).replaceAll('|', '\\|').replaceAll('\n', ' ');
const lines = [];
const out = (...l) => lines.push(...l);

function expectedShort(e) {
  const parts = [`${e.events.length} event${e.events.length === 1 ? '' : 's'}`, e.end];
  if (e.connections !== 1) parts.push(`${e.connections} connections`);
  if (e.retry !== null) parts.push(`retry ${e.retry}`);
  return parts.join(', ');
}

const counts = {};
for (const c of shown) {
  counts[c.id] = { ok: 0, known: 0, divergent: 0, skipped: 0, error: 0, none: 0 };
  for (const s of scenarios) counts[c.id][cell(c, s).status] += 1;
}

out('# Compatibility matrix', '',
  '<!-- Written by tests/compat.sh (tests/compat/report.mjs): do not edit by hand.',
  '     Reasons for divergences live in tests/compat/known-divergences.json. -->', '',
  `Every scenario of sse-server (\`GET /scenarios\`, ${scenarios.length} of them) run against real SSE clients, `
  + 'each whole session compared with what `GET /scenarios/NAME/expected` says a conforming client makes of it. '
  + '"as expected" means the same events (type, data, lastEventId), the same end, the same number of '
  + 'connections and, where the client lets it be seen, the same reconnection time. '
  + 'See [Method](#method) for how a session is observed and judged, and the README\'s "Tests" section to run it.', '',
  `Last run: ${runInfo.date || 'unknown date'}, ${runInfo.server || 'sse-server'}, ${runInfo.wallSeconds ? `${runInfo.wallSeconds} s wall time` : ''} `
  + `on ${runInfo.machine || 'this machine'}.`, '');

out('## Clients and summary', '',
  '| client | version | as expected | divergent (known) | skipped | not judged |',
  '| --- | --- | --- | --- | --- | --- |');
for (const c of shown) {
  const n = counts[c.id];
  const v = Object.values(results[c.id].versions || {}).filter(Boolean).join('; ');
  out(`| ${c.label}${c.gated ? ' (gated)' : ''} | ${esc(v)} | ${n.ok} | ${n.divergent + n.known} (${n.known}) | ${n.skipped} | ${n.error + n.none} |`);
}
for (const [c, why] of notShown) {
  const v = results[c.id] && results[c.id].versions ? Object.values(results[c.id].versions).filter(Boolean).join('; ') : '';
  out(`| ${c.label}${c.gated ? ' (gated)' : ''} | ${esc(v)} | not run: see below | | | |`);
}
const ngx = results.nginx;
if (ngx && ngx.scenarios) {
  const vals = Object.values(ngx.scenarios);
  const same = vals.filter((x) => !x.error && !x.verdict).length;
  out(`| nginx, proxy_buffering on (byte transparency) | ${esc(Object.values(ngx.versions || {}).join('; '))} | ${same} byte-identical | ${vals.length - same} differ | | |`);
}
out('', '"(gated)": `tests/compat.sh` fails when this client differs from the expectation on a scenario '
  + 'that is not listed under [Known divergences](#known-divergences). The other clients are reported, never fatal.', '');
for (const [c, why] of notShown) out(`**${c.label}** has no column: ${why}`, '');

out('## Results: scenario × client', '',
  'Each cell is "as expected" or what the client did instead. "(known)" marks a divergence listed, with its reason, '
  + 'under [Known divergences](#known-divergences). "retry" is compared only where the client shows it: '
  + 'the browsers\' EventSource API does not (not a divergence).', '',
  `| scenario | expected | ${shown.map((c) => c.label).join(' | ')} |`,
  `| --- | --- | ${shown.map(() => '---').join(' | ')} |`);
for (const s of scenarios) {
  const cells = shown.map((c) => {
    const x = cell(c, s);
    return x.status === 'known' ? `${esc(x.text)} (known)` : x.status === 'divergent' ? `**${esc(x.text)}**` : esc(x.text);
  });
  out(`| [${s.name}](#${s.name}) | ${esc(expectedShort(s.expected))} | ${cells.join(' | ')} |`);
}
out('');

if (ngx && ngx.scenarios) {
  out('## Through nginx', '',
    `nginx (${esc(Object.values(ngx.versions || {}).join('; '))}) in front of sse-server with \`proxy_buffering on\` and `
    + '`proxy_http_version 1.1` (`tests/compat/nginx.conf.template`), relying on the `X-Accel-Buffering: no` the server '
    + 'sends on its streams. Every connection of each session is fetched twice at the same time by a raw HTTP/1.1 client, '
    + 'directly and through nginx; the body through nginx (its chunked framing removed) is compared with '
    + '`/scenarios/NAME/raw`, the status, `Content-Type` and `Location` with the direct answer, and each byte\'s '
    + 'arrival time with the direct one ("held back": later by more than 100 ms).', '',
    '| scenario | through nginx | framing through nginx (direct) | end | most held back |',
    '| --- | --- | --- | --- | --- |');
  for (const s of scenarios) {
    const x = ngx.scenarios[s.name];
    if (!x) { out(`| ${s.name} | — | | | |`); continue; }
    if (x.error) { out(`| ${s.name} | not judged: ${esc(x.error)} | | | |`); continue; }
    const cs = x.connections;
    const verdict = x.verdict ? `**${esc(x.verdict)}**`
      : cs.every((c) => c.isStream) ? `byte-identical to /raw${cs.length > 1 ? ` (${cs.length} connections)` : ''}`
        : `identical: ${cs.map((c) => `${c.status}${c.isStream ? '' : c.bytes ? ` and its ${c.bytes}-byte body` : ''}`).join(', ')}`;
    const framing = cs.map((c) => `${c.framing} (${c.directFraming})`).join('; ');
    out(`| ${s.name} | ${verdict} | ${esc(framing)} | ${esc([...new Set(cs.map((c) => c.end))].join('; '))} | ${Math.max(...cs.map((c) => c.heldMs))} ms |`);
  }
  out('', 'nginx always re-frames a stream: sse-server ends a stream\'s body by closing the connection, '
    + 'nginx sends it chunked (one chunk per read from the upstream). That is framing, not content: the bodies above '
    + 'are compared without it.', '');
}

out('## Known divergences', '',
  'From `tests/compat/known-divergences.json` (scenario, client, reason): the one list, read by the gate and rendered here.', '',
  '| client | scenario | seen in this run | reason |', '| --- | --- | --- | --- |');
for (const k of known) {
  const c = CLIENTS.find((x) => x.id === k.client);
  const s = scenarios.find((x) => x.name === k.scenario);
  let seen = 'not run';
  if (c && s && shown.includes(c)) {
    const x = cell(c, s);
    seen = x.status === 'known' ? esc(x.text) : x.status === 'ok' ? 'no: as expected now (the entry can go)' : esc(x.text);
  } else if (k.client === 'nginx' && ngx && ngx.scenarios && ngx.scenarios[k.scenario]) {
    seen = esc(ngx.scenarios[k.scenario].verdict || 'no: identical now');
  }
  out(`| ${c ? c.label : k.client} | ${k.scenario} | ${seen} | ${esc(k.reason)} |`);
}
out('');
if (warnings.length) out('Warnings:', '', ...warnings.map((w) => `- ${w}`), '');

out('## Scenarios', '', 'What each scenario sends (`GET /scenarios`), for reading the table:', '',
  '| scenario | what it is | standard | browsers |', '| --- | --- | --- | --- |');
for (const s of scenarios) {
  out(`| <a id="${s.name}"></a>${s.name} | ${esc(s.description)}${s.knobs ? ` (knobs: \`${s.knobs}\`)` : ''} | ${esc(s.spec)} | ${s.browser ? 'yes' : 'no: skipped for the browsers'} |`);
}
out('');

out(fs.readFileSync(new URL('./method.md', import.meta.url), 'utf8').trimEnd(), '');

fs.writeFileSync(MD, lines.join('\n'));

// --- stdout: the summary and the verdict ----------------------------------------

console.log('compat: summary (as expected / divergent (known) / skipped / not judged)');
for (const c of shown) {
  const n = counts[c.id];
  console.log(`  ${c.label.padEnd(20)} ${String(n.ok).padStart(3)} / ${n.divergent + n.known} (${n.known}) / ${n.skipped} / ${n.error + n.none}`);
}
for (const [c, why] of notShown) console.log(`  ${c.label.padEnd(20)} not run: ${why.split('\n')[0]}`);
if (ngx && ngx.scenarios) {
  const vals = Object.values(ngx.scenarios);
  console.log(`  ${'nginx'.padEnd(20)} ${vals.filter((x) => !x.error && !x.verdict).length} of ${vals.length} byte-identical`);
}
for (const c of shown) {
  for (const s of scenarios) {
    const x = cell(c, s);
    if (x.status === 'divergent' || x.status === 'known' || x.status === 'error') {
      console.log(`  ${x.status === 'known' ? 'known ' : x.status === 'error' ? 'ERROR ' : 'DIFF  '} ${c.label}: ${s.name}: ${x.text}`);
    }
  }
}
for (const w of warnings) console.log(`compat: warning: ${w}`);
console.log(`compat: wrote ${MD}`);
for (const p of problems) console.log(`FAIL ${p}`);
console.log(`compat: ${passed} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
