import type { BrowserContext, Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { pageLoading, serveFiles } from '../support/chromium.js';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';
import { gateTokenRequests, type TokenRequestGate } from '../support/token-request-gate.js';

// Found by the review of issue 30: a refresh-token leader follows a link while its refresh is at the server, and the user comes
// back a few seconds later, while the token the tabs hold is still valid. Measured: Chromium evicts a cached page
// holding a Web Lock as soon as another context calls `navigator.locks.query()` or asks for that lock, even
// `ifAvailable` (`WebLocksContention`); asking for another lock evicts nothing, nor does a lock released on `pagehide`.
// The other tab leads at once and its *scheduled* refresh — ahead of expiry, the current token still good for
// seconds — looks at the rotating page's lock: the page is evicted, the rotation lost, every tab signed out. Nothing
// needed a new token yet: a navigation must cost nothing when the user is back before the current token expires
// (docs/browser.md: "one back before anybody needs a token loses nothing").

const env = useTabs({}, { ignoreDefaultArgs: ['--disable-back-forward-cache'] });
beforeAll(() => {
  serveFiles(env.server, { 'away.html': '<!doctype html><title>away</title><p>another page</p>' });
  env.server.route((_req, res, url) => {
    if (url.pathname !== '/cacheable-tab.html') return false;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(pageLoading('tab.js'));
    return true;
  });
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The refresh is at the server until the test lets it go, however slowly the machine navigates. */
let held: TokenRequestGate;
beforeAll(() => {
  held = gateTokenRequests(env.server);
});

async function watchShows(context: BrowserContext, page: Page): Promise<string[]> {
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

it('a leader cached mid-rotation and back while the current token is valid: nobody is signed out, nothing is sent twice', async () => {
  env.server.lifetime = 8;
  const client = env.server.addClient('rotation-back-in-time');
  const context = await env.browser.newContext();
  // Refresh 2 s after the first token, which stays valid until 8 s.
  const params = { client: client.id, secret: client.secret, margin: 6000, auto: true, rt: env.server.issueRefreshToken(client.id) };
  // The leader's first scheduled refresh is held at the server until the leader has left; then it is answered, and
  // the answer waits in the cached page. The gate closes before the tabs open (their sign-in goes through), so the
  // refresh held is the first however slowly the machine opens them. (It was held 1 s by `latency`: a navigation
  // slower than that on a loaded machine let the leader store and broadcast the answer before it left, and the case
  // was not the one named; then closed after the tabs opened: a machine slower than the 2 s to that refresh let it
  // through, and the tabs handed out its token.)
  held.close(1);
  const tabs = await openTabs(context, tabUrl(env.server.origin, params).replace('/tab.html', '/cacheable-tab.html'), 2);
  const [first] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leader = tabs[await leaderOf(tabs)]!;
  const other = tabs.find((tab) => tab !== leader)!;
  const notRestored = await watchShows(context, leader);

  await expect.poll(() => held.arrived, { timeout: 5000, interval: 10 }).toBe(1);
  const before = env.server.stats.tokenRequests;
  // The rotation's token lives long: the leader's next refresh, 6 s before its expiry, is not due while the test
  // looks, however slowly (an 8 s token was due 2 s after the page came back, and a loaded machine's checks took longer).
  env.server.lifetime = 60;
  await leader.goto(`${env.server.origin}/away.html`);
  held.release();
  await sleep(2000); // the other tab leads, its schedule finds the token due; the answer waits in the cached page
  // Meanwhile the other tab still hands out the current token (valid for ~4 s more).
  expect(await inTab(other, (harness) => harness.tokenOrError())).toBe(first);

  await leader.goBack({ waitUntil: 'commit' });
  await leader.waitForFunction(() => 'harness' in globalThis);
  const restored = await leader.evaluate(() => (globalThis as unknown as { shows?: boolean[] }).shows);
  const otherLog = (await logOf(other)).map((entry) => `${entry.event}:${String(entry.detail)}`);
  expect({ restored, notRestored, cleared: otherLog.filter((line) => line.startsWith('cleared')), reused: env.server.stats.refreshTokenReuse }).toEqual({
    restored: [true],
    notRestored: [],
    cleared: [],
    reused: 0,
  });
  // The rotation the cached page finished is everyone's: both tabs hand out its token, with no request of their own.
  await expect.poll(() => inTab(other, (harness) => harness.tokenOrError()), { timeout: 5000 }).not.toBe(first);
  const next = await inTab(other, (harness) => harness.tokenOrError());
  expect(next).toMatch(/^at_|^[A-Za-z0-9._~-]+$/);
  expect(await inTab(leader, (harness) => harness.tokenOrError())).toBe(next);
  expect(env.server.stats.tokenRequests).toBe(before + 1);
  await context.close();
});
