// What a client made of a session, against what /expected says: null when
// they agree, else a short description of what the client did instead
// ("2 events, expected 3: lost `data: two`", "reconnected, expected fail").

const MAX_SHOWN = 40; // characters of a shown value

/** A value as shown in a table cell: JSON-escaped, cut, in backticks. */
export function show(s, max = MAX_SHOWN) {
  let j = JSON.stringify(String(s)).slice(1, -1);
  if (j.length > max) j = `${j.slice(0, max)}…(${String(s).length} chars)`;
  return `\`${j.replaceAll('`', "'")}\``;
}

/** An event as its wire form would name it: `data: two`, or `event: add, data: 1` (long data cut). */
function showEvent(e) {
  let data = e.data;
  if (data.length > MAX_SHOWN) data = `${data.slice(0, 20)}…(${data.length} chars)`;
  return show(e.type !== 'message' ? `event: ${e.type}, data: ${data}` : `data: ${data}`, 2 * MAX_SHOWN);
}

const same = (a, b) => a.type === b.type && a.data === b.data && a.id === b.id;

/**
 * The differences between two event lists: common head and tail trimmed,
 * then, for what is left, either field-by-field (same count) or lost/extra
 * events (a longest common subsequence when the rest is small).
 */
function diffEvents(want, got) {
  let head = 0;
  while (head < want.length && head < got.length && same(want[head], got[head])) head++;
  let tail = 0;
  while (tail < want.length - head && tail < got.length - head
    && same(want[want.length - 1 - tail], got[got.length - 1 - tail])) tail++;
  const w = want.slice(head, want.length - tail);
  const g = got.slice(head, got.length - tail);
  if (w.length === 0 && g.length === 0) return [];
  if (w.length === g.length) {
    // Same count: say which field of which event differs.
    const out = [];
    w.forEach((e, i) => {
      const o = g[i];
      const n = head + i + 1;
      if (o.type !== e.type) out.push(`event ${n}: type ${show(o.type)}, expected ${show(e.type)}`);
      if (o.data !== e.data) out.push(`event ${n}: data ${show(o.data)}, expected ${show(e.data)}`);
      if (o.id !== e.id) out.push(`event ${n}: lastEventId ${show(o.id)}, expected ${show(e.id)}`);
    });
    return out.length > 4 ? [...out.slice(0, 4), `and ${out.length - 4} more differences`] : out;
  }
  const counts = `${got.length} event${got.length === 1 ? '' : 's'}, expected ${want.length}`;
  if (w.length * g.length > 4e6) return [counts];
  // Longest common subsequence of what is left.
  const L = Array.from({ length: w.length + 1 }, () => new Uint32Array(g.length + 1));
  for (let i = w.length - 1; i >= 0; i--) {
    for (let j = g.length - 1; j >= 0; j--) {
      L[i][j] = same(w[i], g[j]) ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const lost = [];
  const extra = [];
  let i = 0;
  let j = 0;
  while (i < w.length || j < g.length) {
    if (i < w.length && j < g.length && same(w[i], g[j])) { i++; j++; }
    else if (j < g.length && (i === w.length || L[i][j + 1] >= L[i + 1][j])) extra.push(g[j++]);
    else lost.push(w[i++]);
  }
  const list = (evs) => (evs.length > 3 ? `${evs.slice(0, 3).map(showEvent).join(', ')} and ${evs.length - 3} more` : evs.map(showEvent).join(', '));
  const out = [];
  if (lost.length) out.push(`lost ${list(lost)}`);
  if (extra.length) out.push(`extra ${list(extra)}`);
  return [`${counts}: ${out.join('; ')}`];
}

const ENDS = { open: 'stayed open', reconnect: 'reconnected', fail: 'failed', timeout: 'no end' };

/**
 * null when `got` is what `want` (an /expected object) says, else a short
 * description. `got.retry` is a number, null, or "not observable" (then it
 * is not compared); `opts.defaultRetry`, when given, is what a client uses
 * when the stream sets none, and `opts.retrySlackMs` how far a measured
 * retry may be from the one expected.
 */
export function describe(want, got, opts = {}) {
  const out = diffEvents(want.events, got.events);
  if (got.end !== want.end) {
    const how = got.end === 'timeout' ? `no end in ${opts.timeoutMs ?? '?'} ms (readyState ${got.readyState ?? '?'})` : ENDS[got.end] || got.end;
    out.push(`${how}, expected ${want.end === 'open' ? 'to stay open' : want.end === 'reconnect' ? 'reconnect' : 'fail'}`);
  }
  if (got.connections !== want.connections) out.push(`${got.connections} connections, expected ${want.connections}`);
  if (got.retry !== 'not observable' && got.retry !== undefined) {
    const wantRetry = want.retry ?? opts.defaultRetry ?? null;
    const slack = opts.retrySlackMs ?? 0;
    const shown = (r) => (r === null ? 'none' : `${r} ms`);
    const ok = got.retry === wantRetry
      || (typeof got.retry === 'number' && typeof wantRetry === 'number' && Math.abs(got.retry - wantRetry) <= slack);
    if (got.retry === 'not measured') {
      // Nothing to compare: no reconnection came after the session.
    } else if (!ok) {
      const suffix = want.retry === null && opts.defaultRetry !== undefined ? ' (its default: the stream sets none)' : '';
      out.push(`retry ${shown(got.retry)}, expected ${shown(wantRetry)}${suffix}`);
    }
  }
  return out.length ? out.join('; ') : null;
}
