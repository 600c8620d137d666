/**
 * `npm run bench:tabs`: browser sharing in real Chromium, for 1, 10 and 50 tabs of one origin.
 * Prints, per N: token requests at cold start, how long followers take to hold a token after the leader got it
 * (median and max over 5 refreshes; goal ≤ 5 ms median) next to the browser's own floor (a bare BroadcastChannel
 * message between the same tabs), how long after the leader is killed another tab leads (goal ≤ 100 ms), and
 * how long a sign-out takes to reach every tab. Times are taken inside the pages, on one wall clock. Asserts nothing.
 */
import type { Browser, Page } from 'playwright-core';
import { bundleFixtures, launchChromium, pageLoading, serveFiles } from '../test/support/chromium.js';
import { inTab, logOf, openTabs, tabUrl } from '../test/support/tabs.js';
import { startTokenServer, type TokenServer } from '../test/support/token-server.js';

const SIZES = [1, 10, 50];

const server = await startTokenServer();
serveFiles(server, { ...(await bundleFixtures({ tab: 'test/browser/fixtures/tab.ts' })), 'tab.html': pageLoading('tab.js') });
const browser = await launchChromium();

const rows: Record<string, Record<string, string | number>> = {};
for (const size of SIZES) rows[`${size} tab${size === 1 ? '' : 's'}`] = await measure(browser, server, size);

console.log('shared-session bench:tabs (Chromium %s, Node %s)', browser.version(), process.version);
console.table(rows);
await browser.close();
await server.close();

async function measure(browser: Browser, server: TokenServer, size: number): Promise<Record<string, string | number>> {
  server.reset();
  const client = server.addClient(`bench-${size}`);
  const context = await browser.newContext();
  const url = tabUrl(server.origin, { client: client.id, secret: client.secret, auto: true });

  // Cold start: every tab asks for a token as soon as it loads.
  const tabs = await openTabs(context, url, size);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const coldStartRequests = server.stats.tokenRequests;

  const leader = await findLeader(tabs);
  const followers = tabs.filter((tab) => tab !== leader);
  const row: Record<string, string | number> = {
    'token requests, cold start': coldStartRequests,
    'follower time-to-token, median (ms)': '—',
    'follower time-to-token, max (ms)': '—',
    'bare BroadcastChannel, median (ms)': '—',
    'takeover after kill (ms)': '—',
    'sign-out reaches all (ms)': '—',
  };
  if (followers.length === 0) {
    await context.close();
    return row;
  }

  // The leader gets a new token, five times; each follower holds it when its `token` event fires.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const delays: number[] = [];
  for (let round = 0; round < 5; round++) {
    const marks = await Promise.all(followers.map((tab) => logOf(tab).then((log) => log.length)));
    await inTab(leader, (harness) => harness.token('a', { forceRefresh: true }));
    const authenticated = (await logOf(leader)).filter((entry) => entry.event === 'authenticated').at(-1)!.at;
    for (const [index, tab] of followers.entries()) {
      const mark = marks[index]!;
      await tab.waitForFunction((length) => (globalThis as unknown as { harness: { log: unknown[] } }).harness.log.length > length, mark);
      const received = (await logOf(tab)).slice(mark).find((entry) => entry.event === 'token')!;
      delays.push(received.at - authenticated);
    }
  }
  row['follower time-to-token, median (ms)'] = round(median(delays));
  row['follower time-to-token, max (ms)'] = round(Math.max(...delays));
  row['bare BroadcastChannel, median (ms)'] = round(median(await bareChannel(leader, followers)));

  // The leader's renderer is killed (no unload handler runs); the browser releases its Web Lock.
  const killedAt = Date.now();
  await leader.goto('chrome://kill').catch(() => undefined);
  const successor = await findLeader(followers);
  const tookOver = (await logOf(successor)).find((entry) => entry.event === 'leader' && entry.detail === true)!;
  row['takeover after kill (ms)'] = round(tookOver.at - killedAt);

  // Sign-out from one tab: the last tab to hear of it.
  const others = followers.filter((tab) => tab !== successor);
  if (others.length > 0) {
    const started = await inTab(successor, (harness) => harness.clear());
    const heard = await Promise.all(
      others.map(async (tab) => {
        await tab.waitForFunction(() =>
          (globalThis as unknown as { harness: { log: Array<{ event: string }> } }).harness.log.some((entry) => entry.event === 'cleared'),
        );
        return (await logOf(tab)).find((entry) => entry.event === 'cleared')!.at - started;
      }),
    );
    row['sign-out reaches all (ms)'] = round(Math.max(...heard));
  }
  await context.close();
  return row;
}

/** The floor: how long the browser takes to deliver a bare BroadcastChannel message from the leader to the others. */
async function bareChannel(sender: Page, receivers: Page[]): Promise<number[]> {
  type Probe = { probe: number[] };
  await Promise.all(
    receivers.map((tab) =>
      tab.evaluate(() => {
        const scope = globalThis as unknown as Probe;
        scope.probe = [];
        new BroadcastChannel('bench-probe').onmessage = (event: MessageEvent<number>) =>
          scope.probe.push(performance.timeOrigin + performance.now() - event.data);
      }),
    ),
  );
  for (let round = 0; round < 5; round++) {
    await sender.evaluate(() => new BroadcastChannel('bench-probe').postMessage(performance.timeOrigin + performance.now()));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return (await Promise.all(receivers.map((tab) => tab.evaluate(() => (globalThis as unknown as Probe).probe)))).flat();
}

async function findLeader(tabs: Page[]): Promise<Page> {
  for (;;) {
    const leading = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())));
    const index = leading.indexOf(true);
    if (index >= 0) return tabs[index]!;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
