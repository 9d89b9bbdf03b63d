// A browser's own EventSource against every scenario:
//   node run-browser.mjs chromium    Debian's chromium, driven by playwright-core
//                                    with the launch flags of tests/e2e
//   node run-browser.mjs firefox     Debian's firefox-esr, driven by puppeteer-core
//                                    over WebDriver BiDi
// The page is tests/compat/www/index.html, served by this client's
// sse-server (same origin as every scenario). Each session runs in the page
// (session.mjs, sent as source text) and is closed before the next one.
// Writes $COMPAT_OUT/results/<client>.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import {
  BASE, TIMING, TMP, debVersion, loadScenarios, npmVersion, say, typesOf, withTimeout, writeResult,
} from './lib.mjs';
import { observeSession } from './session.mjs';

const client = process.argv[2];
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const FIREFOX = process.env.FIREFOX_BIN || '/usr/bin/firefox-esr';
// The flags of tests/e2e/run.mjs.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Starts the browser; returns { page, close, versions }. */
async function launch() {
  const profile = fs.mkdtempSync(path.join(TMP, `${client}-profile-`));
  if (client === 'chromium') {
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30000,
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    // "Chromium 156.0.8078.114 built on Debian ...", and the package's version.
    const version = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().replace(/ built on .*/, '');
    const deb = debVersion('chromium');
    return {
      page, close: () => ctx.close(),
      versions: { browser: `${version}${deb ? ` (Debian package ${deb})` : ''}`, driver: `playwright-core ${npmVersion('playwright-core')}` },
      reload: () => page.goto(`${BASE}/`, { timeout: 10000 }),
    };
  }
  if (client === 'firefox') {
    const { default: puppeteer } = await import('puppeteer-core');
    const browser = await puppeteer.launch({
      browser: 'firefox', executablePath: FIREFOX, headless: true, userDataDir: profile, timeout: 60000,
    });
    const page = (await browser.pages())[0] || (await browser.newPage());
    const deb = debVersion('firefox-esr');
    return {
      page, close: () => browser.close(),
      versions: { browser: `Firefox ESR ${(await browser.version()).replace(/^firefox\//, '')}${deb ? ` (Debian package ${deb})` : ''}`, driver: `puppeteer-core ${npmVersion('puppeteer-core')} (WebDriver BiDi)` },
      reload: () => page.goto(`${BASE}/`, { timeout: 10000 }),
    };
  }
  throw new Error(`usage: node run-browser.mjs chromium|firefox (got ${client})`);
}

const scenarios = loadScenarios();
const started = performance.now();
const results = {};
let b;
try {
  say(client, 'launching');
  b = await launch();
  say(client, `${b.versions.browser}, ${b.versions.driver}`);
  await b.reload();
  const ua = await b.page.evaluate('navigator.userAgent');
  // The browser's console messages during each session (Chromium says there
  // why it fails a connection), kept with the result as evidence.
  let consoleLines = [];
  b.page.on('console', (m) => { if (consoleLines.length < 5) consoleLines.push(`${m.type()}: ${m.text()}`); });
  for (const s of scenarios) {
    if (!s.browser) {
      results[s.name] = { skipped: 'not for browsers ("browser": false)' };
      continue;
    }
    const opts = {
      url: s.url, types: typesOf(s.expected),
      want: { events: s.expected.events.length, connections: s.expected.connections },
      ...TIMING,
    };
    const t = performance.now();
    consoleLines = [];
    const rec = await withTimeout(
      b.page.evaluate(`(${observeSession})(${JSON.stringify(opts)})`),
      TIMING.timeoutMs + 10000, () => null,
    ).catch((e) => ({ error: String(e.message || e).split('\n')[0] }));
    const ms = Math.round(performance.now() - t);
    if (!rec || rec.error) {
      // The page did not answer: load it again, which ends its EventSource.
      results[s.name] = { error: rec ? rec.error : `the page did not answer in ${TIMING.timeoutMs + 10000} ms`, ms };
      await b.reload().catch(() => {});
    } else {
      results[s.name] = {
        got: { events: rec.events, retry: 'not observable', end: rec.end, connections: rec.connections },
        log: rec.log, ms,
        ...(consoleLines.length ? { console: consoleLines } : {}),
      };
    }
    say(client, `${s.name}: ${results[s.name].error ? `error: ${results[s.name].error}` : `${rec.end}, ${rec.events.length} events, ${rec.connections} connections`} (${ms} ms)`);
  }
  writeResult(client, {
    versions: b.versions,
    userAgent: ua,
    ms: Math.round(performance.now() - started),
    scenarios: results,
  });
} catch (e) {
  // The browser could not be started or driven: say exactly why, for COMPAT.md.
  const msg = String(e && e.stack ? e.stack : e).split('\n').slice(0, 6).join('\n');
  say(client, `FAILED: ${msg}`);
  writeResult(client, { failed: msg, versions: b ? b.versions : {}, ms: Math.round(performance.now() - started), scenarios: results });
  process.exitCode = 1;
} finally {
  if (b) await withTimeout(b.close().catch(() => {}), 10000, () => null);
}
