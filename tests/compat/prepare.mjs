// Saves the scenario index and every scenario's expectation, as the server
// states them, to $COMPAT_OUT/expected.json: the one reference the runners
// and the report share.
//   SSE_URL=http://127.0.0.1:PORT COMPAT_OUT=target/compat node prepare.mjs
import fs from 'node:fs';
import path from 'node:path';

import { BASE, OUT } from './lib.mjs';

async function getJson(target) {
  const r = await fetch(BASE + target, { headers: { Accept: 'application/json' } });
  if (r.status !== 200) throw new Error(`GET ${target}: status ${r.status}`);
  return r.json();
}

const index = await getJson('/scenarios?format=json');
if (!Array.isArray(index) || index.length === 0) throw new Error('GET /scenarios: not a non-empty array');
const scenarios = [];
for (const s of index) {
  const expected = await getJson(s.expected);
  for (const k of ['events', 'retry', 'end', 'connections']) {
    if (!(k in expected)) throw new Error(`${s.expected}: no "${k}"`);
  }
  scenarios.push({ ...s, expected });
}
fs.mkdirSync(OUT, { recursive: true });
fs.writeFileSync(path.join(OUT, 'expected.json'), JSON.stringify({ base: BASE, scenarios }));
console.log(`  [prepare] ${scenarios.length} scenarios, ${scenarios.filter((s) => !s.browser).length} not for browsers`);
