// End-to-end checks of channels (POST and GET /channels/NAME) with a real
// browser, headless Chromium driven by playwright-core:
//   node channels.mjs <check>
// the chat page (www/channel.html) in two tabs, the same across a server
// restart, and a page of a second origin using a channel through CORS.
// Prints what it does, exits 0 when the check passes, 1 with
// "FAIL <check>: <step>: <reason>" when it does not. Run through ../e2e.sh,
// which sets SSE_SERVER_BIN, SSE_E2E_WWW, SSE_E2E_ARTIFACTS and SSE_E2E_TMP.
import fs from 'node:fs';
import path from 'node:path';

import {
  ARTIFACTS, CheckError, Server, TMP, assert, begin, check, launchChromium, restartOnSamePort, runCheck, say,
  waitFor,
} from './lib.mjs';


// ---------------------------------------------------------------------------
// What the server and a page say.

/** The value of one line of `/metrics` (`name` with its labels, if any). */
async function metric(srv, name) {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert(line, `/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}

/** Waits for `n` stderr lines matching `re` from line `from`; returns them. */
async function waitLogLines(srv, re, n, ms, what, from = 0) {
  return waitFor(() => {
    const found = srv.log.slice(from).filter((l) => re.test(l));
    return found.length >= n ? found : null;
  }, ms, `${n} server log lines ${what} (last lines: ${JSON.stringify(srv.log.slice(-3))})`);
}

/**
 * Waits until `fn(arg)`, run in `page`, is true; fails naming `label` and
 * saying what the page shows (its #state, and `list(page)`).
 */
async function waitPage(page, label, what, ms, fn, arg, list = shown) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 });
  } catch (e) {
    throw new CheckError(`${label}: timed out after ${ms} ms waiting for ${what}; `
      + `state ${JSON.stringify(await page.textContent('#state').catch(() => '?'))}, `
      + `page shows ${JSON.stringify(await list(page).catch(() => '?'))}`);
  }
}

// ---------------------------------------------------------------------------
// 1. The chat page, www/channel.html, in two tabs.

const LOST_RESTART = 'some messages may have been lost (the server restarted)';

/** The items of a chat page's list: {id, text, lost}. */
function shown(page) {
  return page.$$eval('#messages li', (els) => els.map((li) => ({
    id: li.dataset.id || '', text: li.querySelector('.text').textContent, lost: li.classList.contains('lost'),
  })));
}

const waitState = (tab, want, ms) => waitPage(tab.page, tab.label, `connection state "${want}"`, ms,
  (s) => document.getElementById('state').textContent === s, want);

/** Waits until a tab lists `text`; returns its id. */
async function waitMessage(tab, text, ms = 5000) {
  await waitPage(tab.page, tab.label, `message ${JSON.stringify(text)}`, ms,
    (t) => [...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === t), text);
  return (await shown(tab.page)).find((m) => m.text === text).id;
}

/**
 * Publishes `text` from a tab as a person does (types it, clicks Send);
 * returns the id the answer gave, as the page shows it ("sent as E-S").
 */
async function publishFrom(tab, text) {
  const { page } = tab;
  const before = await page.textContent('#sent');
  await page.locator('#text').pressSequentially(text);
  await page.click('#send-button');
  await waitPage(page, tab.label, 'the answer to the publish', 5000,
    (b) => document.getElementById('sent').textContent !== b && !document.getElementById('send-button').disabled, before);
  const sent = await page.textContent('#sent');
  const m = /^sent as (\d+-\d+)$/.exec(sent);
  assert(m, `${tab.label} says ${JSON.stringify(sent)} after Send, want "sent as E-S"`);
  assert(await page.inputValue('#text') === '', `${tab.label}: the text box was not cleared after the publish`);
  return m[1];
}

/** Publishes from `from`; both tabs list it with the id of the answer. */
async function publishAndSee(from, tabs, text) {
  begin(`${from.label}: type ${JSON.stringify(text)} and click Send; both tabs list it with the same id`);
  const id = await publishFrom(from, text);
  for (const tab of tabs) {
    const got = await waitMessage(tab, text);
    assert(got === id, `${tab.label} lists ${JSON.stringify(text)} with id ${JSON.stringify(got)}, the publish answered ${id}`);
  }
  say(`published as ${id}; both tabs list it`);
  return id;
}

/** Two tabs (pages of one browser context) on `url`, both connected. */
async function openTabs(srv, url) {
  begin(`launch Chromium; open ${url} in two tabs`);
  const ctx = await launchChromium();
  const first = ctx.pages()[0] || (await ctx.newPage());
  const tabs = [{ label: 'tab 1', page: first }, { label: 'tab 2', page: await ctx.newPage() }];
  const mark = srv.log.length;
  for (const tab of tabs) await tab.page.goto(url, { timeout: 10000 });
  for (const tab of tabs) await waitState(tab, 'open', 5000);
  await waitLogLines(srv, /Client connected to event stream \(connection #\d+, Last-Event-Id: none\)/, 2, 3000,
    'of two new streams', mark);
  return { ctx, tabs };
}

/** Both tabs list exactly `want` ({id, text, lost}), in order. */
async function assertLists(tabs, want) {
  for (const tab of tabs) {
    const got = await shown(tab.page);
    assert(JSON.stringify(got) === JSON.stringify(want),
      () => `${tab.label} lists ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function screenshots(tabs, name) {
  const files = [];
  for (const [i, tab] of tabs.entries()) {
    const file = path.join(ARTIFACTS, `${name}-tab${i + 1}.png`);
    await tab.page.screenshot({ path: file });
    files.push(file);
  }
  say(`screenshots ${files.join(', ')}`);
}

async function closeBrowser(srv, ctx) {
  begin('close the browser: the server logs both disconnects');
  const mark = srv.log.length;
  await ctx.close();
  await waitLogLines(srv, /Client disconnected from event stream/, 2, 3000, 'of the two tabs leaving', mark);
}

async function channelTwoTabs() {
  const srv = await Server.start('channel-two-tabs', []);
  const { ctx, tabs } = await openTabs(srv, `${srv.url}/channel.html`);
  const [t1, t2] = tabs;
  for (const tab of tabs) {
    const name = await tab.page.textContent('#channel');
    assert(name === 'chat', `${tab.label} names channel ${JSON.stringify(name)}, want the default "chat"`);
  }
  assert(await metric(srv, 'sse_channel_subscribers') === 2, 'the server does not count 2 subscribers');

  const m1 = 'hello from tab 1';
  const id1 = await publishAndSee(t1, tabs, m1);
  const [epoch, seq] = id1.split('-');
  assert(seq === '1', `the first event of the channel has id ${id1}, want E-1`);
  // Text, never markup: the page shows what was typed as it is.
  const m2 = 'hi from tab 2 & <b>everyone</b>';
  const id2 = await publishAndSee(t2, tabs, m2);
  assert(id2 === `${epoch}-2`, `the second event has id ${id2}, want ${epoch}-2`);
  await assertLists(tabs, [{ id: id1, text: m1, lost: false }, { id: id2, text: m2, lost: false }]);
  assert(await metric(srv, 'sse_events_published_total') === 2, 'the server does not count 2 events published');
  await screenshots(tabs, 'channel');
  await closeBrowser(srv, ctx);
}

async function channelRestartGap() {
  // A quick restart: with --drain 0, SIGTERM ends both streams at once
  // (each with a retry: of 1 to 5 s) and the server exits; the drain itself
  // is the browser check's business (run.mjs), the loss notice this one's.
  const args = ['--drain', '0'];
  let srv = await Server.start('channel-restart-gap', args);
  const port = srv.port;
  const url = `${srv.url}/channel.html?channel=restart-gap`;
  const { ctx, tabs } = await openTabs(srv, url);
  const [t1, t2] = tabs;
  const m1 = 'before the restart';
  const id1 = await publishAndSee(t1, tabs, m1);

  begin('stop the server (SIGTERM, --drain 0): it ends both streams and exits 0; both tabs say reconnecting');
  const drained = await srv.drain(0);
  assert(drained.ended.includes('2 streams ended with a retry'), `the server logged ${JSON.stringify(drained.ended)}`);
  for (const tab of tabs) await waitState(tab, 'reconnecting', 5000);

  begin(`restart on port ${port}: both tabs reconnect with Last-Event-ID: ${id1} and show the loss`);
  srv = await restartOnSamePort('channel-restart-gap', args, port);
  const esc = id1.replace('-', '\\-');
  await waitLogLines(srv, new RegExp(`Client connected to event stream \\(connection #\\d+, Last-Event-Id: ${esc}\\)`), 2,
    10000, `of the two tabs resuming from ${id1}`);
  for (const tab of tabs) await waitState(tab, 'open', 5000);
  for (const tab of tabs) {
    await waitPage(tab.page, tab.label, 'the lost notice', 5000,
      () => document.querySelector('#messages li.lost') !== null);
  }
  // A restart: the channel's epoch changed, so how many were lost is unknown.
  const lost = { id: '', text: LOST_RESTART, lost: true };
  await assertLists(tabs, [{ id: id1, text: m1, lost: false }, lost]);
  assert(await metric(srv, 'sse_resumes_lost_total') === 2, 'the server does not count 2 lossy resumes');
  say('both tabs show the lost notice');

  const m2 = 'after the restart';
  const id2 = await publishAndSee(t2, tabs, m2);
  const [e1] = id1.split('-');
  const [e2, s2] = id2.split('-');
  assert(BigInt(e2) > BigInt(e1) && s2 === '1',
    `the first event after the restart has id ${id2}, want a later epoch than ${e1}, event 1`);
  await assertLists(tabs, [{ id: id1, text: m1, lost: false }, lost, { id: id2, text: m2, lost: false }]);
  assert(await t1.page.textContent('#state') === 'open', 'tab 1 is no longer open');
  await screenshots(tabs, 'channel-restart');
  await closeBrowser(srv, ctx);
}

// ---------------------------------------------------------------------------
// 2. A page of a second origin (another sse-server serving it) using a
//    channel of the first: EventSource withCredentials, and a POST with
//    Authorization, which makes the browser ask first (a preflight).

const CORS_PAGE = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8" /><title>A page of another origin</title></head>
<body>
<h1>A page of another origin</h1>
<p>EventSource: <span id="state">connecting</span></p>
<ul id="events"></ul>
<script>
"use strict";
// ?api=http://127.0.0.1:PORT1&token=T&last=E-S: the server, its publish
// token, and the id to resume after (the server replays what follows it).
const q = new URLSearchParams(location.search);
const api = q.get('api');
const state = document.getElementById('state');
const es = new EventSource(api + '/channels/x?last_event_id=' + encodeURIComponent(q.get('last')),
  { withCredentials: true });
es.onopen = () => { state.textContent = 'open'; };
es.onerror = () => { state.textContent = es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'; };
es.onmessage = (e) => {
  const li = document.createElement('li');
  li.dataset.id = e.lastEventId;
  li.textContent = e.data;
  document.getElementById('events').appendChild(li);
};
window.publish = async (text) => {
  try {
    const r = await fetch(api + '/channels/x', {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Authorization: 'Bearer ' + q.get('token') },
      body: text,
    });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { error: String(e) };
  }
};
</script>
</body>
</html>
`;

const received = (page) => page.$$eval('#events li', (els) => els.map((li) => ({ id: li.dataset.id, text: li.textContent })));

/** Publishes from node (a loopback client, with the token); returns the id. */
async function publishDirect(srv, token, text) {
  const r = await fetch(`${srv.url}/channels/x`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: text });
  const body = await r.text();
  assert(r.status === 200, `POST /channels/x with the token: ${r.status} ${body}`);
  return JSON.parse(body).id;
}

/** The fields of the server's answer to `init` from `origin`, for a failure message. */
async function answerFields(srv, origin, init) {
  const r = await fetch(`${srv.url}/channels/x`, { ...init, headers: { ...init.headers, Origin: origin } });
  await r.arrayBuffer();
  return `${r.status} ${JSON.stringify(Object.fromEntries(r.headers))}`;
}

/**
 * A new browser (its own profile, so no CORS preflight it cached before) on
 * `url`; the page's console lines are kept in `consoleLines`.
 */
async function visit(url) {
  const ctx = await launchChromium();
  const page = ctx.pages()[0] || (await ctx.newPage());
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  await page.goto(url, { timeout: 10000 });
  const wait = (what, fn) => waitPage(page, 'the page', what, 5000, fn, undefined, received);
  await wait('the EventSource to open or fail', () => document.getElementById('state').textContent !== 'connecting');
  return { ctx, page, consoleLines, wait };
}

async function corsSecondOrigin() {
  const dir = fs.mkdtempSync(path.join(TMP, 'second-origin-'));
  fs.writeFileSync(path.join(dir, 'index.html'), CORS_PAGE);
  const site = await Server.start('cors-second-origin-page', [], { www: dir });
  const origin = site.url;
  const token = `e2e-${process.pid}-${Date.now()}`;
  const env = { SSE_SERVER_PUBLISH_TOKEN: token };
  let api = await Server.start('cors-second-origin', ['--cors-origin', origin], { env });
  const port = api.port;
  const pageUrl = (last) => `${origin}/?api=${encodeURIComponent(api.url)}&token=${encodeURIComponent(token)}&last=${last}`;
  say(`the page's origin: ${origin} (an sse-server with --www ${dir}); the channel's server: ${api.url}`);

  begin(`${api.url} takes a publish only with the token (SSE_SERVER_PUBLISH_TOKEN), loopback or not`);
  const bare = await fetch(`${api.url}/channels/x`, { method: 'POST', body: 'no token' });
  await bare.arrayBuffer();
  assert(bare.status === 401, `POST /channels/x without the token: ${bare.status}, want 401`);
  const id0 = await publishDirect(api, token, 'published before the page');
  const epoch = id0.split('-')[0];

  begin(`--cors-origin ${origin}: the page's EventSource (withCredentials) gets the replay of ${id0}`);
  const allowed = await visit(pageUrl(`${epoch}-0`));
  const opened = await allowed.page.textContent('#state');
  assert(opened === 'open', () => `the EventSource is ${opened}, want open (console: ${JSON.stringify(allowed.consoleLines)})`);
  await allowed.wait(`event ${id0}`, () => document.querySelectorAll('#events li').length > 0);
  let got = await received(allowed.page);
  assert(JSON.stringify(got) === JSON.stringify([{ id: id0, text: 'published before the page' }]),
    `the page received ${JSON.stringify(got)}`);

  begin('the page POSTs with Authorization (a preflight first); the event arrives in the page');
  const preflights = await metric(api, 'sse_responses_total{code="204"}');
  const text = 'from the second origin';
  const answer = await allowed.page.evaluate((t) => window.publish(t), text);
  await allowed.wait(`the event ${JSON.stringify(text)}`, () => document.querySelectorAll('#events li').length > 1);
  got = await received(allowed.page);
  const id1 = `${epoch}-2`;
  assert(JSON.stringify(got[1]) === JSON.stringify({ id: id1, text }), `the page received ${JSON.stringify(got)}`);
  assert(await metric(api, 'sse_responses_total{code="204"}') === preflights + 1,
    'the server answered no preflight (OPTIONS, 204) for the POST');
  if (answer.error) {
    const fields = await answerFields(api, origin,
      { method: 'POST', headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${token}` }, body: 'probe' });
    throw new CheckError(`the event was published as ${id1}, but the page's fetch rejected (${answer.error}): `
      + `the browser withheld the answer; the server answers that POST from ${origin} with ${fields}`);
  }
  assert(answer.status === 200 && answer.body === `{"id":"${id1}"}\n`,
    `the page's fetch got ${JSON.stringify(answer)}, want 200 {"id":"${id1}"}`);
  say(`the page received ${id1} and its fetch read {"id":"${id1}"}`);
  await allowed.page.screenshot({ path: path.join(ARTIFACTS, 'cors-page.png') });
  await allowed.ctx.close();

  // A new browser: this one cached the preflight's answer (Access-Control-
  // Max-Age), and would send the POST again without asking.
  begin(`restart ${api.url} without --cors-origin; the same page in a new browser: blocked (EventSource fails, fetch rejects)`);
  // No stream is open (the browser is closed): the drain has nothing to
  // wait for, and the server exits 0 at once.
  await api.drain(5000);
  api = await restartOnSamePort('cors-second-origin', [], port, { env });
  const id2 = await publishDirect(api, token, 'published before the page (blocked)');
  const mark = api.log.length;
  const blocked = await visit(pageUrl(`${id2.split('-')[0]}-0`));
  // The request reached the server and its answer carried the replay: the
  // browser read the bytes and gave the page none of them.
  await api.waitLog(/Client connected to event stream/, 3000, 'of the blocked page', mark);
  assert(await metric(api, 'sse_events_replayed_total') === 1, 'the server did not replay the event to the blocked page');
  const state = await blocked.page.textContent('#state');
  assert(state === 'closed', `the EventSource is ${JSON.stringify(state)}, want closed (CORS fails it for good)`);
  const refused = await blocked.page.evaluate((t) => window.publish(t), 'must not be published');
  assert(refused.error, `the page's fetch was not blocked: ${JSON.stringify(refused)}`);
  assert(await metric(api, 'sse_responses_total{code="204"}') === 1, 'the server answered no preflight for the blocked POST');
  assert(await metric(api, 'sse_events_published_total') === 1, 'the blocked POST was published: the preflight did not stop it');
  got = await received(blocked.page);
  assert(got.length === 0, `the blocked page received ${JSON.stringify(got)}`);
  const cors = blocked.consoleLines.filter((l) => l.includes('CORS policy'));
  say(`EventSource closed, fetch rejected (${refused.error}), nothing received; Chromium says: `
    + `${cors.map((l) => l.slice(0, 100)).join(' | ') || '(nothing on the console)'}`);
  assert(cors.length >= 2, () => `Chromium did not blame CORS for both (console: ${JSON.stringify(blocked.consoleLines)})`);
  await blocked.ctx.close();
}

// ---------------------------------------------------------------------------

const CHECKS = {
  'channel-two-tabs': channelTwoTabs, 'channel-restart-gap': channelRestartGap, 'cors-second-origin': corsSecondOrigin,
};

await runCheck('channels.mjs', CHECKS);
