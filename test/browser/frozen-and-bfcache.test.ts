import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { serveFiles } from '../support/chromium.js';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

// Tabs that stop running and come back: a leader frozen in the middle of its reign, and a tab kept in the
// back/forward cache while the session moved on. The others are served meanwhile, and the returning tab catches up
// from what was broadcast and stored, without a token request of its own.
//
// Chromium headless ignores CDP Page.setWebLifecycleState('frozen') (the page stays visible and its timers fire;
// measured: 20 ticks of a 50 ms interval during a 1 s "freeze"), so the freeze here is the debugger's pause, which
// stops the page's JavaScript as a freeze does: no task, timer or message runs and its Web Locks stay held (measured:
// 2 ticks in 1 s, the ones already queued). The back/forward cache is real: playwright disables it by default
// (`--disable-back-forward-cache`, reported by CDP Page.backForwardCacheNotUsed as BackForwardCacheDisabledByCommandLine),
// so this file launches Chromium without that flag, and the restored page sees `pageshow` with `persisted`.

const env = useTabs({}, { ignoreDefaultArgs: ['--disable-back-forward-cache'] });
beforeAll(() => serveFiles(env.server, { 'away.html': '<!doctype html><title>away</title><p>another page</p>' }));

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Tokens that the tab's session got from the endpoint itself. */
async function ownRequests(page: Page, since: number): Promise<number> {
  return (await logOf(page)).filter((entry) => entry.event === 'authenticated' && entry.at >= since).length;
}

it('a leader frozen for 5 s (longer than a token lives): the others are served within the answer timeout, and the resumed leader catches up without a request', async () => {
  env.server.lifetime = 3;
  const client = env.server.addClient('frozen-leader');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, margin: 1000, auto: true }), 3);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leader = tabs[await leaderOf(tabs)]!;
  const followers = tabs.filter((tab) => tab !== leader);
  await Promise.all(followers.map((tab) => inTab(tab, (harness) => harness.startLoop(50))));
  const cdp = await context.newCDPSession(leader);

  const frozenAt = await inTab(leader, (harness) => harness.now());
  const requestsBefore = env.server.stats.tokenRequests;
  await cdp.send('Debugger.enable');
  await cdp.send('Debugger.pause');
  // The leader's token (3 s) runs out while it is frozen: the followers must get new ones without it.
  const longestWait = await Promise.all(
    followers.map((tab) =>
      inTab(tab, async (harness) => {
        let longest = 0;
        const end = performance.now() + 5000;
        while (performance.now() < end) {
          const started = performance.now();
          await harness.token();
          longest = Math.max(longest, performance.now() - started);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return longest;
      }),
    ),
  );
  const requestsWhileFrozen = env.server.stats.tokenRequests - requestsBefore;
  await cdp.send('Debugger.resume');
  await cdp.send('Debugger.disable');
  const requestsAtResume = env.server.stats.tokenRequests;

  // Resumed, the former leader hands out the followers' current token, and made no request of its own.
  const followerToken = await inTab(followers[0]!, (harness) => harness.token());
  await expect.poll(() => inTab(leader, (harness) => harness.token()), { timeout: 3000 }).toBe(followerToken);
  expect(await ownRequests(leader, frozenAt)).toBe(0);
  expect(env.server.stats.tokenRequests - requestsAtResume).toBeLessThanOrEqual(1); // at most the schedule's refresh
  const results = await Promise.all(followers.map((tab) => inTab(tab, (harness) => harness.stopLoop())));
  expect(results.flatMap((result) => result.failures)).toEqual([]);
  // Served meanwhile: each wait bounded by the 2 s answer timeout (plus a loaded machine's slack), not by the freeze.
  for (const wait of longestWait) expect(wait).toBeLessThan(3500);
  expect(requestsWhileFrozen).toBeGreaterThanOrEqual(1);
  expect(requestsWhileFrozen).toBeLessThanOrEqual(4);
  await context.close();
});

/** Two tabs on 3 s tokens (refreshed every 2 s); the follower is watched for `pageshow` and cache evictions. */
async function leaderAndFollower(name: string) {
  env.server.lifetime = 3;
  const client = env.server.addClient(name);
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, margin: 1000, auto: true }), 2);
  const [first] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leaderIndex = await leaderOf(tabs);
  const follower = tabs[1 - leaderIndex]!;
  const cdp = await context.newCDPSession(follower);
  await cdp.send('Page.enable');
  const notRestored: string[] = [];
  cdp.on('Page.backForwardCacheNotUsed', (event) => notRestored.push(...event.notRestoredExplanations.map((entry) => entry.reason)));
  await follower.evaluate(() => {
    const state = globalThis as unknown as { shows: boolean[] };
    state.shows = [];
    addEventListener('pageshow', (event) => state.shows.push(event.persisted));
  });
  return { context, leader: tabs[leaderIndex]!, follower, first: first!, notRestored };
}

/** The `pageshow` events the page saw since the test started watching (undefined: it is a new document). */
function shows(page: Page): Promise<boolean[] | undefined> {
  return page.evaluate(() => (globalThis as unknown as { shows?: boolean[] }).shows);
}

it('a tab restored from the back/forward cache hands out the current token and follows the next refresh with 0 requests', async () => {
  const { context, leader, follower, first, notRestored } = await leaderAndFollower('bfcache-restored');
  await follower.goto(`${env.server.origin}/away.html`);
  await sleep(500); // back before the refresh (2 s after the first token): nothing is broadcast meanwhile
  await follower.goBack({ waitUntil: 'commit' }); // a page from the cache fires no load event
  await follower.waitForFunction(() => 'harness' in globalThis);
  expect(notRestored).toEqual([]);
  expect(await shows(follower)).toEqual([true]);
  const restoredAt = await inTab(follower, (harness) => harness.now());
  expect(await inTab(follower, (harness) => harness.token())).toBe(first);
  // The leader's refresh reaches the restored tab; it asks the endpoint nothing.
  await expect.poll(() => env.server.stats.tokenRequests, { timeout: 5000 }).toBe(2);
  const refreshed = await inTab(leader, (harness) => harness.token());
  await expect.poll(() => inTab(follower, (harness) => harness.token()), { timeout: 3000 }).toBe(refreshed);
  expect(await ownRequests(follower, restoredAt)).toBe(0);
  expect(env.server.stats.tokenRequests).toBe(2);
  await context.close();
});

// Chromium evicts a cached page as soon as a message arrives on one of its BroadcastChannels
// (`BroadcastChannelOnMessage`): a tab kept in the cache while the leader broadcasts a refreshed token is not
// restored. Going back loads it afresh, and it adopts the stored token.
it('a tab evicted from the back/forward cache by a token broadcast loads afresh on going back and adopts the stored token: 0 requests', async () => {
  const { context, leader, follower, first, notRestored } = await leaderAndFollower('bfcache-evicted');
  await follower.goto(`${env.server.origin}/away.html`);
  await sleep(4500); // the leader refreshes twice (every 2 s) and broadcasts each token
  const requestsAway = env.server.stats.tokenRequests;
  expect(requestsAway).toBeGreaterThanOrEqual(2);
  await follower.goBack();
  await follower.waitForFunction(() => 'harness' in globalThis);
  expect(notRestored).toContain('BroadcastChannelOnMessage');
  expect(await shows(follower)).toBeUndefined();
  const token = await inTab(follower, (harness) => harness.token());
  expect(token).not.toBe(first);
  expect(token).toBe(await inTab(leader, (harness) => harness.token()));
  expect(env.server.stats.tokenRequests).toBe(requestsAway);
  expect(await ownRequests(follower, 0)).toBe(0);
  await context.close();
});
