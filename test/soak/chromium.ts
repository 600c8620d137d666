import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { bundleFixtures, launchChromium, pageLoading, serveFiles } from '../support/chromium.js';
import { startTokenServer } from '../support/token-server.js';
import type { SoakEvent } from './fixtures/soak-loop.js';
import { type SoakReport, type Usage, type Window, growthOf, inside, longestGaps } from './report.js';
import { schedule } from './schedule.js';

// The browser soak: 10 tabs of one profile (one of them runs a dedicated worker, another the service worker) on
// 3 s tokens call a loopback API every 100 ms, while a seeded schedule crashes the leader, reloads and freezes tabs,
// signs out, revokes every token and makes the token endpoint fail, throttle or stall.

const LIFETIME = 3;
/** refreshBeforeExpiry: a token is replaced 2 s after it was issued. */
const MARGIN = 1000;
const TABS = 10;
const INTERVAL = 100;

const KINDS = {
  'crash-leader': 2,
  'reload-tab': 2,
  'freeze-tab': 1.5,
  'sign-out': 1,
  revoke: 1.5,
  'endpoint-5xx': 1,
  'endpoint-429': 1,
  'endpoint-stall': 1,
} as const;
type Kind = keyof typeof KINDS;

interface Tab {
  readonly name: string;
  readonly role: 'worker' | 'sw' | 'tab';
  page: Page;
  cdp: CDPSession;
  /** Whether it has run since the start without a crash or reload (its memory is compared). */
  original: boolean;
  heapStart: number;
  listenersStart: number;
}

type Outage = { kind: 'endpoint-5xx' | 'endpoint-429' | 'endpoint-stall'; remaining: number; stall: number; window: { from: number; to: number } };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** `task`, or undefined after `ms` (a page that is reloading or frozen does not answer). */
const within = <T>(task: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([task.catch(() => undefined), sleep(ms).then(() => undefined)]);

export async function soakChromium(options: { seed: number; duration: number; log: (line: string) => void }): Promise<SoakReport> {
  const { seed, duration, log } = options;
  const server = await startTokenServer();
  const client = server.addClient('soak');
  server.lifetime = LIFETIME;

  const events: SoakEvent[] = [];
  const successes = new Map<string, number[]>();
  const issued: number[] = [];
  const requested: number[] = [];
  let apiCalls = 0;
  let outage: Outage | undefined;
  const requestWindows: Window[] = [];
  const failureWindows: Window[] = [];
  const notes: string[] = [];
  /**
   * Contexts crashed or reloaded on purpose, and when: a fetch that their own teardown cut (`Failed to fetch`) is not a
   * failure anyone else sees. A crashed context never comes back (its replacement has a new name); a reloaded one does.
   */
  const torn: Array<{ context: string; from: number; to: number }> = [];
  const kills: number[] = [];
  const netFailures: string[] = [];
  let started = Date.now();
  const tearDown = (name: string, from: number, to: number): void => {
    for (const context of [name, `${name}-worker`, `${name}-sw`]) torn.push({ context, from, to });
  };

  server.route(async (req, res, url) => {
    if (url.pathname === '/soak/event' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      events.push(JSON.parse(body) as SoakEvent);
      res.writeHead(204).end();
      return true;
    }
    if (url.pathname.startsWith('/api/t/') || url.pathname.startsWith('/api/sw/')) {
      apiCalls++;
      const context = url.pathname.split('/')[3] ?? '';
      const header = req.headers.authorization ?? '';
      if (header.startsWith('Bearer ') && server.isValid(header.slice(7))) {
        const times = successes.get(context) ?? [];
        times.push(Date.now());
        successes.set(context, times);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' }).end('{}');
      }
      return true;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      requested.push(Date.now());
      if (outage !== undefined && outage.remaining > 0) {
        const current = outage;
        current.remaining--;
        if (current.remaining === 0) current.window.to = Date.now() + 6_000;
        if (current.kind === 'endpoint-5xx') {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
          return true;
        }
        if (current.kind === 'endpoint-429') {
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":"slow_down"}');
          return true;
        }
        // A stall of 1.5–2.5 s, then the real answer (a stall longer than the 3 s lifetime would bring a token that
        // expired on arrival: invalid_response, as README says).
        await sleep(current.stall);
      }
      issued.push(Date.now());
      return false;
    }
    return false;
  });
  const files = await bundleFixtures({
    'soak-tab': 'test/soak/fixtures/soak-tab.ts',
    'soak-worker': 'test/soak/fixtures/soak-worker.ts',
    'soak-sw': 'test/soak/fixtures/soak-sw.ts',
  });
  serveFiles(server, { ...files, 'soak.html': pageLoading('soak-tab.js') });

  const browser = await launchChromium();
  const context = await browser.newContext();
  let serviceWorkerStarts = 0;
  context.on('serviceworker', () => serviceWorkerStarts++);
  let incarnation = 0;
  const urlOf = (name: string, role: Tab['role']): string =>
    `${server.origin}/soak.html?${new URLSearchParams({ context: name, role, client: client.id, secret: client.secret, margin: String(MARGIN), interval: String(INTERVAL) })}`;

  async function openTab(base: string, role: Tab['role'], original: boolean, browserContext: BrowserContext = context): Promise<Tab> {
    const name = original ? base : `${base}.${++incarnation}`;
    const page = await browserContext.newPage();
    await page.goto(urlOf(name, role));
    await page.waitForFunction(() => document.title === 'ready', undefined, { timeout: 20_000 });
    const cdp = await browserContext.newCDPSession(page);
    await cdp.send('Network.enable');
    const urls = new Map<string, string>();
    cdp.on('Network.requestWillBeSent', (event) => urls.set(event.requestId, `${event.request.url.replace(/^https?:\/\/[^/]+/, '')} ${event.type ?? ''}`));
    cdp.on('Network.loadingFailed', (event) => netFailures.push(`${name}: ${urls.get(event.requestId)} ${event.errorText}${event.canceled ? ' (canceled)' : ''} ${event.blockedReason ?? ''} ${event.corsErrorStatus?.corsError ?? ''} at ${((Date.now() - started) / 1000).toFixed(1)} s`));
    return { name, role, page, cdp, original, heapStart: 0, listenersStart: 0 };
  }

  async function usageOf(tab: Tab): Promise<{ heap: number; listeners: number }> {
    await tab.cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = await tab.cdp.send('Runtime.getHeapUsage');
    const { jsEventListeners } = await tab.cdp.send('Memory.getDOMCounters');
    return { heap: usedSize, listeners: jsEventListeners };
  }

  const roleOf = (index: number): Tab['role'] => (index === 0 ? 'worker' : index === 1 ? 'sw' : 'tab');
  const tabs: Tab[] = [];
  for (let index = 0; index < TABS; index++) tabs.push(await openTab(`tab${index}`, roleOf(index), true));
  // Warm-up: everyone has a token and has run a few rounds (JIT, caches) before the baseline is taken.
  await sleep(3_000);
  for (const tab of tabs) {
    const usage = await usageOf(tab);
    tab.heapStart = usage.heap;
    tab.listenersStart = usage.listeners;
  }

  const faults = schedule<Kind>(seed, { duration, gap: 2_500, quiet: 8_000, kinds: KINDS });
  log(`chromium: seed ${seed}, ${faults.length} faults in ${(duration / 1000).toFixed(0)} s: ${faults.map((fault) => `${(fault.at / 1000).toFixed(1)}s ${fault.kind}`).join(', ')}`);
  const counts: Record<string, number> = {};
  started = Date.now();

  async function leaderIndex(): Promise<number> {
    const answers = await Promise.all(tabs.map((tab) => within(tab.page.evaluate(() => (globalThis as unknown as { soak: { isLeader(): boolean } }).soak.isLeader()), 2_000)));
    return answers.indexOf(true);
  }

  /** Closes the tab at `index` (crashed) and opens a new one in its place, with its role and a new name. */
  async function replace(index: number): Promise<void> {
    const old = tabs[index]!;
    await old.page.close().catch(() => undefined);
    tabs[index] = await openTab(old.name.split('.')[0]!, old.role, false);
  }

  async function inject(kind: Kind, pick: number): Promise<void> {
    const now = Date.now();
    switch (kind) {
      case 'crash-leader': {
        let index = await leaderIndex();
        if (index < 0) {
          // The dedicated worker or the service worker leads: crash the worker's tab (the service worker cannot be
          // crashed from here), so that a dead leader is what the others see.
          index = 0;
        }
        requestWindows.push({ from: now, to: now + 4_000, kind });
        // chrome://kill is a navigation: the dying tab's worker may see its last fetch fail before the renderer
        // goes. That call belongs to a context that is gone, not to one that keeps running.
        tearDown(tabs[index]!.name, now, Number.POSITIVE_INFINITY);
        notes.push(`crashed ${tabs[index]!.name} at ${((now - started) / 1000).toFixed(1)} s`);
        // chrome://kill ends a renderer process, which may also host the service worker: every fetch of every page
        // it controls is dispatched to it, and those in flight then fail with net::ERR_FAILED (seen: 6 tabs' calls
        // to /api/t/, a path the worker does not even handle, the instant another tab was killed). A network error
        // just after a kill is what the kill injects, not a token failure.
        kills.push(now);
        await tabs[index]!.page.goto('chrome://kill').catch(() => undefined);
        await replace(index);
        return;
      }
      case 'reload-tab': {
        const index = Math.floor(pick * TABS);
        const tab = tabs[index]!;
        tab.original = false;
        await tab.page.reload();
        await tab.page.waitForFunction(() => document.title === 'ready', undefined, { timeout: 20_000 });
        tearDown(tab.name, now, Date.now());
        return;
      }
      case 'freeze-tab': {
        // Page.setWebLifecycleState('frozen') has no effect on headless pages (they stay visible, timers fire):
        // the debugger's pause stops the page's JavaScript as a freeze does (no task, timer or message runs; its
        // locks stay held) until it is resumed. The leader half of the time.
        const index = pick < 0.5 ? Math.max(0, await leaderIndex()) : Math.floor(pick * TABS);
        const tab = tabs[index]!;
        const ms = 2_000 + Math.round(pick * 2_000);
        requestWindows.push({ from: now, to: now + ms + 3_000, kind });
        failureWindows.push({ from: now, to: now + ms + 1_000, kind: `${kind} ${tab.name}` });
        await tab.cdp.send('Page.setWebLifecycleState', { state: 'frozen' }); // no effect here, a real freeze elsewhere
        await tab.cdp.send('Debugger.enable');
        await tab.cdp.send('Debugger.pause');
        await sleep(ms);
        await tab.cdp.send('Debugger.resume');
        await tab.cdp.send('Debugger.disable');
        await tab.cdp.send('Page.setWebLifecycleState', { state: 'active' });
        return;
      }
      case 'sign-out': {
        const index = Math.floor(pick * TABS);
        requestWindows.push({ from: now, to: now + 3_000, kind });
        failureWindows.push({ from: now, to: now + 2_000, kind });
        await within(tabs[index]!.page.evaluate(() => (globalThis as unknown as { soak: { clear(): Promise<void> } }).soak.clear()), 5_000);
        return;
      }
      case 'revoke':
        requestWindows.push({ from: now, to: now + 3_000, kind });
        server.revokeAll();
        return;
      case 'endpoint-5xx':
      case 'endpoint-429':
      case 'endpoint-stall': {
        // 5xx: 1–5 failures (4 attempts per request: 5 fail one request, whose back-off is then remembered).
        const remaining = kind === 'endpoint-5xx' ? 1 + Math.floor(pick * 5) : kind === 'endpoint-429' ? 1 + Math.floor(pick * 2) : 1;
        const window = { from: now, to: Number.POSITIVE_INFINITY };
        outage = { kind, remaining, stall: 1_500 + Math.round(pick * 1_000), window };
        requestWindows.push({ from: window.from, get to() { return window.to; }, kind });
        failureWindows.push({ from: window.from, get to() { return window.to; }, kind });
        return;
      }
    }
  }

  for (const fault of faults) {
    const wait = started + fault.at - Date.now();
    if (wait > 0) await sleep(wait);
    if (outage !== undefined && outage.remaining > 0 && fault.kind.startsWith('endpoint-')) continue; // one at a time
    counts[fault.kind] = (counts[fault.kind] ?? 0) + 1;
    await inject(fault.kind, fault.pick);
  }
  const rest = started + duration - Date.now();
  if (rest > 0) await sleep(rest);
  const seconds = (Date.now() - started) / 1000;
  if (outage !== undefined && outage.remaining > 0) notes.push(`${outage.kind}: ${outage.remaining} failure(s) were never asked for`);

  await Promise.all(tabs.map((tab) => within(tab.page.evaluate(() => (globalThis as unknown as { soak: { stop(): Promise<void> } }).soak.stop()), 5_000)));
  await sleep(500);
  const usage: Usage[] = [];
  for (const tab of tabs.filter((entry) => entry.original)) {
    const end = await usageOf(tab);
    usage.push({ name: tab.name, heapStart: tab.heapStart, heapEnd: end.heap, listenersStart: tab.listenersStart, listenersEnd: end.listeners });
  }
  await browser.close();
  await server.close();

  const from = started;
  const inRun = (at: number): boolean => at >= from;
  const failures = events.filter((event) => event.kind === 'failed' && inRun(event.at));
  const dying = (event: SoakEvent): boolean =>
    torn.some((entry) => entry.context === event.context && event.at >= entry.from && event.at <= entry.to) ||
    (event.detail === 'TypeError: Failed to fetch' && kills.some((at) => event.at >= at && event.at <= at + 1_500));
  // A 401 after the 401 rule's one refresh is a token refused twice: no outage explains that.
  const unexplained = failures.filter((event) => (inside(failureWindows, event.at) === undefined || event.detail === 'HTTP 401') && !dying(event));
  const refreshEvery = LIFETIME * 1000 - MARGIN;
  const extra: string[] = [];
  const runIssued = issued.filter(inRun);
  for (let index = 1; index < runIssued.length; index++) {
    const [previous, current] = [runIssued[index - 1]!, runIssued[index]!];
    const explained = requestWindows.some((window) => window.from <= current && window.to >= previous);
    if (!explained && current - previous < refreshEvery - 700) extra.push(`at ${((current - from) / 1000).toFixed(1)} s, ${current - previous} ms after the previous one`);
  }
  const gaps = longestGaps(successes, [...failureWindows, ...requestWindows.filter((window) => window.kind === 'crash-leader')]);
  return {
    transport: 'Chromium: 10 tabs + dedicated worker + service worker',
    seed,
    seconds,
    faults: counts,
    tokenLifetime: LIFETIME,
    refreshEvery: refreshEvery / 1000,
    tokensIssued: runIssued.length,
    tokenRequests: requested.filter(inRun).length,
    extraRequests: extra,
    apiCalls,
    unexplainedFailures: unexplained.map((event) => `${event.context} at ${((event.at - from) / 1000).toFixed(1)} s: ${event.detail}`),
    explainedFailures: failures.length - unexplained.length,
    expiredHandedOut: events.filter((event) => event.kind === 'expired').map((event) => `${event.context}: ${event.detail}`),
    longestWithoutToken: { ...gaps.explained, at: gaps.explained.at - from },
    longestWithoutTokenOverall: gaps.overall,
    usage,
    growth: growthOf(usage),
    notes: [
      ...notes,
      `contexts that called the API: ${[...successes.keys()].filter((name) => name.endsWith('-worker')).length} dedicated worker(s), ` +
        `${[...successes.keys()].filter((name) => name.endsWith('-sw')).length} page(s) through the service worker, ` +
        `${[...successes.keys()].filter((name) => !name.includes('-')).length} tabs (replacements included); the service worker started ${serviceWorkerStarts} time(s)`,
      `requests the browser saw fail (CDP Network.loadingFailed): ${netFailures.length}${netFailures.length === 0 ? '' : `, e.g. ${netFailures.slice(0, 3).join('; ')}`}`,
      `failed inside a sign-out or outage, in a tab being crashed or reloaded, or cut by a renderer kill: ${summarize(failures.filter((event) => !unexplained.includes(event)).map((event) => event.detail))}`, `error events: ${summarize(events.filter((event) => event.kind === 'error').map((event) => event.detail))}`],
  };
}

function summarize(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, count]) => `${value} ${count}`).join(', ') || 'none';
}
