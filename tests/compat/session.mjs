// How one scenario's session is observed through an EventSource, and when
// it is judged ended. The same function runs in Node (the npm `eventsource`
// package, passed as `ES`) and in the browsers: the browser runners send
// its source text into the page (`(${observeSession})(opts)`), so it must
// stay self-contained: no imports, no outside names.
//
// opts:
//   url          the scenario's stream
//   types        event types to listen for (`message` and every type the expectation has)
//   want         { events: N, connections: K }: how many the expectation has
//   quietMs      "open": the connection is open and no event came for this long
//                after at least N events
//   lonelyMs     "open" all the same when fewer than N came, after this long
//   timeoutMs    no end by then: "timeout"
//   init         second argument of the constructor (Node only)
//   linger       async (es, record) => ..., called after a "reconnect" end and
//                before close (Node only: the npm runner waits there for the
//                next request, to measure the reconnection time)
//
// Resolves to { events: [{type, data, id}], end, connections, log }:
//   end = "fail"      an `error` event found readyState CLOSED;
//         "reconnect" the K-th connection ended: the K-th `error` event with
//                     readyState CONNECTING (or a client that reconnects where
//                     it should not: as many errors as the expectation has
//                     connections);
//         "open"      readyState OPEN and quiet (above);
//         "timeout"   none of these within timeoutMs.
//   connections = the `error` events seen (each ends one connection attempt),
//                 plus the one still open for "open" and "timeout".
//   log = open/error events: [ms since start, what, readyState, events so far];
//   t0 = performance.now() at the start.
export function observeSession(opts, ES) {
  const Ctor = ES || globalThis.EventSource;
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const events = [];
  const log = [];
  let errors = 0;
  let last = 0; // time of the last open, error or event
  let done = false;
  const es = opts.init ? new Ctor(opts.url, opts.init) : new Ctor(opts.url);
  return new Promise((resolve) => {
    const finish = async (end) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      const record = {
        events, end, log, readyState: es.readyState, t0,
        connections: errors + (end === 'open' || end === 'timeout' ? 1 : 0),
      };
      if (end === 'reconnect' && opts.linger) {
        try { await opts.linger(es, record); } catch (e) { record.lingerError = String(e); }
      }
      es.close();
      resolve(record);
    };
    es.addEventListener('open', () => {
      last = now();
      log.push([last, 'open', es.readyState, events.length]);
    });
    es.addEventListener('error', () => {
      if (done) return;
      errors += 1;
      last = now();
      log.push([last, 'error', es.readyState, events.length]);
      if (es.readyState === 2) finish('fail');
      else if (errors >= opts.want.connections) finish('reconnect');
    });
    for (const type of opts.types) {
      es.addEventListener(type, (e) => {
        if (done) return;
        last = now();
        events.push({ type: e.type, data: e.data, id: e.lastEventId });
      });
    }
    const timer = setInterval(() => {
      const t = now();
      if (es.readyState === 1 && t - last >= opts.quietMs && events.length >= opts.want.events) finish('open');
      else if (es.readyState === 1 && t - last >= opts.lonelyMs) finish('open');
      else if (t >= opts.timeoutMs) finish('timeout');
    }, 50);
  });
}
