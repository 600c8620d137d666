import type { BrowserContext, Page } from 'playwright-core';
import { beforeAll, beforeEach, expect, it } from 'vitest';
import { pageLoading, serveFiles } from '../support/chromium.js';
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
// A page restored from the cache fires no load event: going back waits for the commit and the harness.
//
// Time is the promise only where a case says so (the answer timeout, the handover "at once", the refresh schedule).
// Elsewhere the token lifetime is an hour and the leader's refreshes are forced (`forceRefresh`, the same publish
// path as a scheduled refresh), so a slow machine cannot slip a refresh into a window the case needs quiet, and a
// token cannot arrive already inside its refresh margin (its lifetime counts from when it was requested: on a
// machine at load 15, a 3 s token took over 2 s to come back and was refreshed at once, 9 requests in 6 s).

const env = useTabs({}, { ignoreDefaultArgs: ['--disable-back-forward-cache'] });
/** When the server answered each token request (its clock), since the last `reset`. */
const answered: number[] = [];
beforeEach(() => {
  answered.length = 0;
});
beforeAll(() => {
  serveFiles(env.server, { 'away.html': '<!doctype html><title>away</title><p>another page</p>' });
  env.server.route((_req, res, url) => {
    if (url.pathname === '/token') res.on('finish', () => answered.push(Date.now()));
    return false;
  });
  // The tab page as an app serves it, without the fixtures' `no-store`: Chromium keeps no page served `no-store` that
  // also fetched a `no-store` resource — every token response (RFC 6749 §5.1) — so a tab that requested a token would
  // never be cached (measured: MainResourceHasCacheControlNoStore with JsNetworkRequestReceivedCacheControlNoStoreResource).
  env.server.route((_req, res, url) => {
    if (url.pathname !== '/cacheable-tab.html') return false;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(pageLoading('tab.js'));
    return true;
  });
});

const HOUR = 3600;

/** Forces a refresh in `page` (the leader): the endpoint is asked once and the new token is published. */
function refreshIn(page: Page): Promise<string> {
  return inTab(page, (harness) => harness.token('a', { forceRefresh: true }));
}

/**
 * How long going to another page and back takes on this machine now (ms): a baseline for the cases whose promise
 * is a schedule, measured in the same run on a scratch page.
 */
async function navigationBaseline(context: BrowserContext): Promise<number> {
  const page = await context.newPage();
  const started = performance.now();
  await page.goto(`${env.server.origin}/away.html`);
  await page.goto(`${env.server.origin}/away.html?again`);
  await page.goBack({ waitUntil: 'commit' });
  const took = performance.now() - started;
  await page.close();
  return took;
}

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
  await cdp.send('Debugger.enable');

  // Frozen right after a refresh: its token's refresh falls due 2 s after it was asked for, while the leader is frozen.
  // (Frozen at whatever point its schedule had reached when the tabs were ready, a loaded machine had it refreshing as
  // the freeze came: that refresh's answer, handled on resume, counted as a request of the resumed leader.)
  const frozenAt = await inTab(leader, async (harness) => {
    await harness.token('a', { forceRefresh: true });
    return harness.now();
  });
  const requestsBefore = env.server.stats.tokenRequests;
  await cdp.send('Debugger.pause');
  // Tokens issued from now on live an hour: the one the followers get while the leader is frozen is still fresh when
  // it resumes, however slowly the machine resumes it, so catching up must cost no request at all (with 3 s tokens a
  // slow resume found the followers' token inside its margin and the leader, still leading, rightly refreshed it).
  env.server.lifetime = HOUR;
  // The leader's token (3 s) runs out while it is frozen: the followers must get new ones without it.
  // Each follower also measures how late its own 50 ms timers fire: the machine's delay, the slack its waits get.
  const waits = await Promise.all(
    followers.map((tab) =>
      inTab(tab, async (harness) => {
        let longest = 0;
        let lateness = 0;
        const end = performance.now() + 5000;
        while (performance.now() < end) {
          const started = performance.now();
          await harness.token();
          longest = Math.max(longest, performance.now() - started);
          const sleeping = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 50));
          lateness = Math.max(lateness, performance.now() - sleeping - 50);
        }
        return { longest, lateness };
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
  expect(env.server.stats.tokenRequests).toBe(requestsAtResume);
  const results = await Promise.all(followers.map((tab) => inTab(tab, (harness) => harness.stopLoop())));
  expect(results.flatMap((result) => result.failures)).toEqual([]);
  // Served meanwhile: each wait bounded by the 2 s answer timeout, not by the freeze. The slack (1.5 s on a machine
  // whose timers run on time) grows with the delay the tab's own timers had in the same run, up to 4.5 s: a wait that
  // lasted as long as the freeze (5 s) must fail however slow the machine.
  for (const { longest, lateness } of waits) expect(longest).toBeLessThan(Math.min(4500, 2000 + Math.max(1500, 3 * lateness)));
  expect(requestsWhileFrozen).toBeGreaterThanOrEqual(1);
  expect(requestsWhileFrozen).toBeLessThanOrEqual(4);
  await context.close();
});

/** Watches `page` for `pageshow` and for CDP `Page.backForwardCacheNotUsed` (the reasons a going back was not restored). */
async function watchCache(context: BrowserContext, page: Page): Promise<string[]> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Page.enable');
  const notRestored: string[] = [];
  cdp.on('Page.backForwardCacheNotUsed', (event) => notRestored.push(...event.notRestoredExplanations.map((entry) => entry.reason)));
  await page.evaluate(() => {
    const state = globalThis as unknown as { shows: boolean[] };
    state.shows = [];
    addEventListener('pageshow', (event) => state.shows.push(event.persisted));
  });
  return notRestored;
}

/**
 * Two tabs whose first token lives `lifetime` s (refreshed 1 s before it expires), both watched for `pageshow` and
 * cache evictions.
 */
async function leaderAndFollower(name: string, { withRefreshToken = false, lifetime = HOUR } = {}) {
  env.server.lifetime = lifetime;
  const client = env.server.addClient(name);
  const context = await env.browser.newContext();
  const rt = withRefreshToken ? { rt: env.server.issueRefreshToken(client.id) } : {};
  const params = { client: client.id, secret: client.secret, margin: 1000, auto: true, ...rt };
  const url = tabUrl(env.server.origin, params).replace('/tab.html', '/cacheable-tab.html');
  const tabs = await openTabs(context, url, 2);
  const [first] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leaderIndex = await leaderOf(tabs);
  const leader = tabs[leaderIndex]!;
  const follower = tabs[1 - leaderIndex]!;
  const [leaderNotRestored, notRestored] = await Promise.all([watchCache(context, leader), watchCache(context, follower)]);
  return { context, leader, follower, first: first!, notRestored, leaderNotRestored };
}

/** The `pageshow` events the page saw since the test started watching (undefined: it is a new document). */
function shows(page: Page): Promise<boolean[] | undefined> {
  return page.evaluate(() => (globalThis as unknown as { shows?: boolean[] }).shows);
}

/** Goes back to a page that the back/forward cache should restore (such a page fires no load event). */
async function backFromCache(page: Page): Promise<void> {
  await page.goBack({ waitUntil: 'commit' });
  await page.waitForFunction(() => 'harness' in globalThis);
}

it('a tab restored from the back/forward cache hands out the current token and follows the next refresh with 0 requests', async () => {
  const { context, leader, follower, first, notRestored } = await leaderAndFollower('bfcache-restored');
  await follower.goto(`${env.server.origin}/away.html`);
  // Back before any refresh (the token lives an hour): nothing is broadcast meanwhile.
  await backFromCache(follower);
  expect(notRestored).toEqual([]);
  expect(await shows(follower)).toEqual([true]);
  const restoredAt = await inTab(follower, (harness) => harness.now());
  expect(await inTab(follower, (harness) => harness.token())).toBe(first);
  expect(env.server.stats.tokenRequests).toBe(1);
  // The leader's next refresh reaches the restored tab; it asks the endpoint nothing.
  const refreshed = await refreshIn(leader);
  expect(env.server.stats.tokenRequests).toBe(2);
  await expect.poll(() => inTab(follower, (harness) => harness.token()), { timeout: 3000 }).toBe(refreshed);
  expect(await ownRequests(follower, restoredAt)).toBe(0);
  expect(env.server.stats.tokenRequests).toBe(2);
  await context.close();
});

// Chromium evicts a cached page as soon as a message arrives on one of its BroadcastChannels
// (`BroadcastChannelOnMessage`): a cached tab closes its channels on `pagehide`, so the leader's broadcasts do not
// reach it, and on `pageshow` it reopens them and reads the record for what it missed.
it('a tab kept in the back/forward cache while the leader refreshes twice is restored, not evicted, and hands out the current token: 0 requests', async () => {
  const { context, leader, follower, first, notRestored } = await leaderAndFollower('bfcache-kept');
  await follower.goto(`${env.server.origin}/away.html`);
  // The leader refreshes twice and broadcasts each token.
  await refreshIn(leader);
  await refreshIn(leader);
  const requestsAway = env.server.stats.tokenRequests;
  expect(requestsAway).toBe(3);
  await backFromCache(follower);
  expect(notRestored).toEqual([]);
  expect(await shows(follower)).toEqual([true]);
  const token = await inTab(follower, (harness) => harness.token());
  expect(token).not.toBe(first);
  expect(token).toBe(await inTab(leader, (harness) => harness.token()));
  expect(env.server.stats.tokenRequests).toBe(requestsAway);
  expect(await ownRequests(follower, 0)).toBe(0);
  // Back in the channel: the next refresh reaches it too, without a request of its own.
  const refreshed = await refreshIn(leader);
  expect(env.server.stats.tokenRequests).toBe(requestsAway + 1);
  await expect.poll(() => inTab(follower, (harness) => harness.token()), { timeout: 3000 }).toBe(refreshed);
  expect(await ownRequests(follower, 0)).toBe(0);
  await context.close();
});

it('a leader that enters the back/forward cache hands leadership to the other tab at once, which refreshes on schedule; restored, it follows', async () => {
  // The schedule is the promise here, so the token the tabs hold must outlive the leader's going away by a margin this
  // machine can keep: its refresh falls due 1 s before it expires, at least three navigation baselines after it was
  // asked for. It is asked for just before the leader leaves (a forced refresh): counted from the first token, the
  // setup of a loaded machine (tabs, CDP sessions) ate the margin, and the refresh came before the handover did.
  const scratch = await env.browser.newContext();
  const baseline = await navigationBaseline(scratch);
  await scratch.close();
  const lifetime = Math.ceil(Math.max(2000, 3 * baseline) / 1000) + 1;
  const { context, leader, follower, leaderNotRestored } = await leaderAndFollower('bfcache-leader', { lifetime });
  const held = await refreshIn(leader);
  await expect.poll(() => inTab(follower, (harness) => harness.token()), { timeout: 3000 }).toBe(held);
  const requestsAtLeave = env.server.stats.tokenRequests;
  // The refreshed token lives an hour: the one refresh the schedule makes is the only one until the case ends.
  env.server.lifetime = HOUR;
  // Each tab's log is read on its own clock.
  const leftAt = await inTab(follower, (harness) => harness.now());
  const leaderLeftAt = await inTab(leader, (harness) => harness.now());
  await leader.goto(`${env.server.origin}/away.html`);
  // At once: the Web Lock is released on `pagehide`, not when the cache evicts the page.
  const handover = Math.max(1000, baseline);
  await expect.poll(() => inTab(follower, (harness) => harness.isLeader()), { timeout: handover, interval: 50 }).toBe(true);
  expect(env.server.stats.tokenRequests).toBe(requestsAtLeave);
  // The next refresh (1 s before the held token expires) happens in the new leader, and only there: its log has the
  // token it got from the endpoint, and the server has had that request and no other. Read in that order: the server
  // counts a request when it arrives, the tab logs it when the answer is back (polling the server's count and then
  // reading the log found the answer still on its way, on a loaded machine).
  await expect.poll(() => ownRequests(follower, leftAt), { timeout: lifetime * 1000 + handover }).toBe(1);
  expect(env.server.stats.tokenRequests).toBe(requestsAtLeave + 1);
  const refreshed = await inTab(follower, (harness) => harness.token());
  await backFromCache(leader);
  expect(leaderNotRestored).toEqual([]);
  expect(await shows(leader)).toEqual([true]);
  expect(await inTab(leader, (harness) => harness.token())).toBe(refreshed);
  expect(await inTab(leader, (harness) => harness.isLeader())).toBe(false);
  expect(await ownRequests(leader, leaderLeftAt)).toBe(0);
  expect(env.server.stats.tokenRequests).toBe(requestsAtLeave + 1);
  await context.close();
});

it('a sign-out while a refresh-token tab is cached: restored, it is signed out (login_required) and sends nothing', async () => {
  const { context, leader, follower, notRestored } = await leaderAndFollower('bfcache-sign-out', { withRefreshToken: true });
  await follower.goto(`${env.server.origin}/away.html`);
  // The token lives an hour: no refresh is in flight when the leader signs out, so every request is accounted for.
  await inTab(leader, (harness) => harness.clear());
  const requestsAway = env.server.stats.tokenRequests;
  expect(requestsAway).toBe(1);
  await backFromCache(follower);
  expect(notRestored).toEqual([]);
  expect(await shows(follower)).toEqual([true]);
  expect(await inTab(follower, (harness) => harness.tokenOrError())).toMatch(/code=login_required/);
  const log = await logOf(follower);
  expect(log.filter((entry) => entry.event === 'cleared')).toHaveLength(1);
  expect(log.filter((entry) => entry.event === 'error')).toEqual([]);
  expect(env.server.stats.tokenRequests).toBe(requestsAway);
  expect(env.server.stats.refreshTokenReuse).toBe(0);
  await context.close();
});

it('a token that expired while its tab was cached is not handed out on return', async () => {
  const { context, leader, follower, first, notRestored } = await leaderAndFollower('bfcache-expired', { lifetime: 3 });
  await follower.goto(`${env.server.origin}/away.html`);
  await leader.close(); // nobody refreshes: the stored token (3 s) expires while the follower is cached
  // Until every token the server issued has expired on its clock (not a fixed sleep: a loaded machine may have had
  // a refresh in flight when the leader closed).
  await expect.poll(() => Date.now() > Math.max(...answered) + 3000, { timeout: 10_000, interval: 100 }).toBe(true);
  // The token the returning tab asks for lives an hour: it cannot come back already inside its refresh margin.
  env.server.lifetime = HOUR;
  const requestsAway = env.server.stats.tokenRequests;
  await backFromCache(follower);
  expect(notRestored).toEqual([]);
  expect(await shows(follower)).toEqual([true]);
  const token = await inTab(follower, (harness) => harness.token());
  expect(token).not.toBe(first);
  expect(env.server.isValid(token)).toBe(true);
  expect(env.server.stats.tokenRequests).toBe(requestsAway + 1);
  await context.close();
});
