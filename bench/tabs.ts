/**
 * `npm run bench -- tabs` (or `npm run bench:tabs`): browser sharing in real Chromium, each figure next to its
 * baseline in the same run:
 * - token requests at cold start, 1 / 10 / 50 tabs with a dedicated worker and the service worker: shared vs the naive
 *   page and worker (each fetches its own token);
 * - follower time-to-token after the leader got a new token (10 and 50 tabs), median and p95, vs a bare
 *   BroadcastChannel message from the same leader to the same tabs, rounds interleaved;
 * - takeover after the leader's renderer is killed vs the browser's own Web Lock hand-over measured alone (tabs that
 *   only hold a lock), kills alternating;
 * - first token in a fresh context (1 tab), when `getToken()` resolves, vs a page making one plain `fetch` to the token
 *   endpoint, each page's code bundled alone and minified as an app ships it.
 * Times are taken inside the pages, on one wall clock. Asserts nothing.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { bundleFixtures, launchChromium, pageLoading, serveFiles, staticChunks } from '../test/support/chromium.js';
import { inTab, logOf, openTabs, tabUrl } from '../test/support/tabs.js';
import { startTokenServer } from '../test/support/token-server.js';
import { describeMachine } from './lib/machine.js';
import { median, medianRatio, quantile, report, type Row, smoke } from './lib/pairs.js';

const SIZES = smoke ? [1, 3] : [1, 10, 50];
const FOLLOWER_SIZES = smoke ? [3] : [10, 50];
const ROUNDS = smoke ? 2 : 7;
const TAKEOVER_TABS = smoke ? 3 : 10;
const KILLS = smoke ? 1 : 5;
const FRESH_ROUNDS = smoke ? 2 : 9;

const server = await startTokenServer();
// Both sides as an app ships them: each page's code bundled alone and minified, the library's public entry and the
// few lines of the page (bench/fixtures/session-*.ts), never the test harness (test/browser/fixtures/tab.ts), whose
// wire and database helpers doubled the download and were in every tab's way.
const files = await bundleFixtures(
  {
    tab: 'bench/fixtures/session-tab.ts',
    worker: 'bench/fixtures/session-worker.ts',
    naive: 'bench/fixtures/naive-tab.ts',
    'naive-worker': 'bench/fixtures/naive-worker.ts',
    lock: 'bench/fixtures/lock-tab.ts',
  },
  { shipped: true },
);
serveFiles(server, {
  ...files,
  'tab.html': pageLoading('tab.js', 'shared-session bench', staticChunks(files, 'tab.js')),
  'naive.html': pageLoading('naive.js'),
  'lock.html': pageLoading('lock.js'),
});
const launched = await launchChromium();
// A loaded machine opens 50 tabs slowly: navigation and waits are bounded by minutes here, not playwright's 30 s.
const browser = {
  version: () => launched.version(),
  close: () => launched.close(),
  async newContext(): Promise<BrowserContext> {
    const context = await launched.newContext();
    context.setDefaultTimeout(180_000);
    return context;
  },
};
const rows: Row[] = [];
const samples: Record<string, Record<string, number[]>> = {};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
let clients = 0;
const credentials = (): { client: string; secret: string } => {
  const { id, secret } = server.addClient(`bench-${clients++}`);
  return { client: id, secret };
};
const naiveUrl = (): string => `${server.origin}/naive.html?${new URLSearchParams(credentials())}`;
const sharedUrl = (): string => tabUrl(server.origin, { ...credentials(), auto: true });

// 1. Token requests at cold start: N tabs, a dedicated worker and the service worker all asking at once; the naive
//    page and worker (each fetches its own token) vs the shared session in every one of them.
{
  const requests: Record<string, number[]> = { naive: [], shared: [] };
  for (const size of SIZES) {
    for (const side of ['naive', 'shared'] as const) {
      const context = await browser.newContext();
      server.resetStats();
      const { client, secret } = credentials();
      const query = new URLSearchParams({ client, secret }).toString();
      const tabs =
        side === 'naive' ? await openPages(context, `${server.origin}/naive.html?${query}`, size, 'naive') : await openTabs(context, tabUrl(server.origin, { client, secret }), size);
      const workerUrl = `/${side === 'naive' ? 'naive-worker' : 'worker'}.js?${query}`;
      await Promise.all([
        ...tabs.map((tab) =>
          side === 'naive'
            ? tab.evaluate(() => (globalThis as unknown as { naive: { first: Promise<string> } }).naive.first)
            : inTab(tab, (harness) => harness.token()),
        ),
        askDedicatedWorker(tabs[0]!, workerUrl),
        askServiceWorker(tabs.at(-1)!, workerUrl),
      ]);
      await sleep(200); // a late request would still count
      requests[side]!.push(server.stats.tokenRequests);
      await context.close();
    }
    const label = `${size} tab${size === 1 ? '' : 's'}, a dedicated worker and the service worker`;
    rows.push({
      id: `tabs-requests-${size}`,
      figure: `token requests at cold start, ${label}`,
      unit: 'requests',
      better: 'lower',
      ours: { label: 'shared session', values: [requests.shared!.at(-1)!] },
      baseline: { label: 'naive page and workers (each fetches)', values: [requests.naive!.at(-1)!] },
      goal: `1 vs ${size + 2}`,
      met: requests.shared!.at(-1) === 1,
    });
  }
  samples['token-requests'] = { tabs: SIZES, workers: [2], naive: requests.naive!, shared: requests.shared! };
}

// 2. Follower time-to-token vs a bare BroadcastChannel message, interleaved rounds.
for (const size of FOLLOWER_SIZES) {
  const context = await browser.newContext();
  const tabs = await openTabs(context, sharedUrl(), size);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leader = await findLeader(tabs);
  const followers = tabs.filter((tab) => tab !== leader);
  await listenBare(followers);
  await sleep(500);
  const ours: number[][] = [];
  const bare: number[][] = [];
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(await followerDelays(leader, followers));
    await sleep(50);
    bare.push(await bareDelays(leader, followers, round));
    await sleep(50);
  }
  const p95 = (values: number[]): number => quantile(values, 0.95);
  const goal = '≤ 1.2× bare';
  rows.push(
    {
      id: `follower-median-${size}`,
      figure: `follower time-to-token, median, ${size} tabs`,
      unit: 'ms',
      better: 'lower',
      ours: { label: 'shared session (token event)', values: ours.map(median) },
      baseline: { label: 'bare BroadcastChannel message', values: bare.map(median) },
      goal,
      met: medianRatio(ours.map(median), bare.map(median)) <= 1.2,
    },
    {
      id: `follower-p95-${size}`,
      figure: `follower time-to-token, p95, ${size} tabs`,
      unit: 'ms',
      better: 'lower',
      ours: { label: 'shared session (token event)', values: ours.map(p95) },
      baseline: { label: 'bare BroadcastChannel message', values: bare.map(p95) },
      goal,
      met: medianRatio(ours.map(p95), bare.map(p95)) <= 1.2,
    },
  );
  samples[`time-to-token-${size}`] = { shared: ours.flat(), bare: bare.flat() };
  await context.close();
}

// 3. Takeover after the leader is killed vs the browser's own Web Lock hand-over, kills alternating.
{
  const context = await browser.newContext();
  const tabs = await openTabs(context, sharedUrl(), TAKEOVER_TABS);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  let lockTabs = await openPages(context, `${server.origin}/lock.html`, TAKEOVER_TABS, 'lock');
  let sessionTabs = tabs;
  await sleep(500);
  const ours: number[] = [];
  const bare: number[] = [];
  for (let kill = 0; kill < KILLS; kill++) {
    const leader = await findLeader(sessionTabs);
    sessionTabs = sessionTabs.filter((tab) => tab !== leader);
    let killedAt = Date.now();
    await leader.goto('chrome://kill').catch(() => undefined);
    const successor = await findLeader(sessionTabs);
    const tookOver = (await logOf(successor)).find((entry) => entry.event === 'leader' && entry.detail === true)!;
    ours.push(tookOver.at - killedAt);
    await sleep(200);

    const holder = await lockHolder(lockTabs);
    lockTabs = lockTabs.filter((tab) => tab !== holder.tab);
    killedAt = Date.now();
    await holder.tab.goto('chrome://kill').catch(() => undefined);
    bare.push((await lockHolder(lockTabs)).grantedAt - killedAt);
    await sleep(200);
  }
  rows.push({
    id: 'takeover',
    figure: `takeover after the leader is killed, ${TAKEOVER_TABS} tabs`,
    unit: 'ms',
    better: 'lower',
    ours: { label: 'shared session (new leader elected)', values: ours },
    baseline: { label: 'bare Web Lock hand-over', values: bare },
    goal: '≤ 1.5×',
    met: medianRatio(ours, bare) <= 1.5,
    note: `max ${Math.max(...ours).toFixed(1)} vs ${Math.max(...bare).toFixed(1)} ms`,
  });
  samples.takeover = { shared: ours, bare };
  await context.close();
}

// 4. First token in a fresh context (one tab, nothing stored): shared session vs one plain fetch, from navigation start.
{
  const ours: number[] = [];
  const plain: number[] = [];
  for (let round = 0; round < FRESH_ROUNDS; round++) {
    for (const side of round % 2 === 0 ? (['shared', 'naive'] as const) : (['naive', 'shared'] as const)) {
      const context = await browser.newContext();
      if (side === 'naive') {
        const [tab] = await openPages(context, naiveUrl(), 1, 'naive');
        plain.push(
          await tab!.evaluate(async () => {
            const naive = (globalThis as unknown as { naive: { first: Promise<string>; gotAt: number } }).naive;
            await naive.first;
            return naive.gotAt;
          }),
        );
      } else {
        const [tab] = await openTabs(context, sharedUrl(), 1);
        // When the app's `getToken()` resolves, as the plain page's `fetch` does: not the `authenticated` event, which
        // comes before the token is broadcast and stored.
        ours.push(
          await tab!.evaluate(async () => {
            const harness = (globalThis as unknown as { harness: { first: Promise<string>; firstAt: number } }).harness;
            await harness.first;
            return harness.firstAt - performance.timeOrigin;
          }),
        );
      }
      await context.close();
    }
  }
  rows.push({
    id: 'first-token-tab',
    figure: 'first token in a fresh context, 1 tab (from navigation start until the app holds it)',
    unit: 'ms',
    better: 'lower',
    ours: { label: 'shared session', values: ours },
    baseline: { label: 'page with one plain fetch', values: plain },
    goal: '≤ 1.3×',
    met: medianRatio(ours, plain) <= 1.3,
  });
}

report({
  bench: 'tabs',
  title: 'shared-session: tabs in Chromium',
  machine: { ...describeMachine(), chromium: browser.version() },
  rows,
  samples,
  notes: [
    'cold start: the first tab starts a dedicated worker and the last one registers the service worker, while every tab asks for a token; each side in a fresh browser context',
    'times are taken inside the pages on one wall clock; a kill is timed from just before chrome://kill',
  ],
});
await browser.close();
await server.close();

/** Opens `count` pages of `url` at once and waits until each has defined `global`. */
async function openPages(context: BrowserContext, url: string, count: number, global: string): Promise<Page[]> {
  const pages = await Promise.all(Array.from({ length: count }, () => context.newPage()));
  await Promise.all(pages.map((page) => page.goto(url)));
  await Promise.all(pages.map((page) => page.waitForFunction((name) => name in globalThis, global)));
  return pages;
}

/** Starts a dedicated worker from `tab` and waits for the token it gets. */
function askDedicatedWorker(tab: Page, url: string): Promise<unknown> {
  return tab.evaluate(
    (script) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(script, { type: 'module' });
        worker.onmessage = (event: MessageEvent<{ token?: string; error?: string }>) => (event.data.token ? resolve(event.data.token) : reject(new Error(event.data.error)));
        worker.postMessage('token');
      }),
    url,
  );
}

/** Registers the service worker from `tab` and waits for the token it gets. */
function askServiceWorker(tab: Page, url: string): Promise<unknown> {
  return tab.evaluate(async (script) => {
    const registration = await navigator.serviceWorker.register(script, { type: 'module', scope: '/' });
    const worker = registration.installing ?? registration.waiting ?? registration.active!;
    const channel = new MessageChannel();
    const answer = new Promise((resolve, reject) => {
      channel.port1.onmessage = (event: MessageEvent<{ token?: string; error?: string }>) => (event.data.token ? resolve(event.data.token) : reject(new Error(event.data.error)));
    });
    worker.postMessage('token', [channel.port2]);
    return answer;
  }, url);
}

/** The leader gets a new token; how long after each follower's `token` event fires (ms). */
async function followerDelays(leader: Page, followers: Page[]): Promise<number[]> {
  const marks = await Promise.all(followers.map((tab) => logOf(tab).then((log) => log.length)));
  await inTab(leader, (harness) => harness.token('a', { forceRefresh: true }));
  const authenticated = (await logOf(leader)).filter((entry) => entry.event === 'authenticated').at(-1)!.at;
  return Promise.all(
    followers.map(async (tab, index) => {
      const mark = marks[index]!;
      await tab.waitForFunction(
        (length) =>
          (globalThis as unknown as { harness: { log: Array<{ event: string }> } }).harness.log.slice(length).some((entry) => entry.event === 'token'),
        mark,
      );
      const received = (await logOf(tab)).slice(mark).find((entry) => entry.event === 'token')!;
      return received.at - authenticated;
    }),
  );
}

type Probe = { probe: Record<number, number> };

async function listenBare(receivers: Page[]): Promise<void> {
  await Promise.all(
    receivers.map((tab) =>
      tab.evaluate(() => {
        const scope = globalThis as unknown as Probe;
        scope.probe = {};
        new BroadcastChannel('bench-probe').onmessage = (event: MessageEvent<{ round: number; sentAt: number }>) => {
          scope.probe[event.data.round] = performance.timeOrigin + performance.now() - event.data.sentAt;
        };
      }),
    ),
  );
}

/** The floor: one bare BroadcastChannel message from `sender` to the others; each receiver's delay (ms). */
async function bareDelays(sender: Page, receivers: Page[], round: number): Promise<number[]> {
  await sender.evaluate((index) => {
    const channel = new BroadcastChannel('bench-probe');
    channel.postMessage({ round: index, sentAt: performance.timeOrigin + performance.now() });
    channel.close();
  }, round);
  return Promise.all(
    receivers.map(async (tab) => {
      await tab.waitForFunction((index) => (globalThis as unknown as Probe).probe[index] !== undefined, round);
      return tab.evaluate((index) => (globalThis as unknown as Probe).probe[index]!, round);
    }),
  );
}

async function findLeader(tabs: Page[]): Promise<Page> {
  for (;;) {
    const leading = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())));
    const index = leading.indexOf(true);
    if (index >= 0) return tabs[index]!;
    await sleep(5);
  }
}

async function lockHolder(tabs: Page[]): Promise<{ tab: Page; grantedAt: number }> {
  for (;;) {
    const granted = await Promise.all(tabs.map((tab) => tab.evaluate(() => (globalThis as unknown as { lock: { grantedAt: number } }).lock.grantedAt)));
    const index = granted.findIndex((at) => !Number.isNaN(at));
    if (index >= 0) return { tab: tabs[index]!, grantedAt: granted[index]! };
    await sleep(5);
  }
}
