import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, openTabs, tabUrl, useTabs } from '../support/tabs.js';
import { gateTokenRequests, type TokenRequestGate } from '../support/token-request-gate.js';

const env = useTabs();

/**
 * While `held` is closed, token requests wait at the server (counted in `held.arrived`); a beacon to `/stopped`, which the leader sends as it stops running, lets them go. So the leader's request is in
 * flight when it stops, however slowly the machine delivers the test's commands. (It was held 1 s by `latency`: a
 * stop that came later let the leader hand out the answer first.)
 */
let held: TokenRequestGate;
beforeAll(() => {
  held = gateTokenRequests(env.server);
  env.server.route((_req, res, url) => {
    if (url.pathname !== '/stopped') return false;
    held.release();
    res.writeHead(204).end();
    return true;
  });
});
/** Stops the page's main thread for `ms`, from when it has told the server so (the beacon leaves while it is stopped). */
function stop(page: Page, ms: number): Promise<void> {
  return page.evaluate((duration) => {
    navigator.sendBeacon('/stopped');
    const until = Date.now() + duration;
    while (Date.now() < until);
  }, ms);
}

/** A token for `tab` that must not be `rejected`: the outcome, and how long the call took (ms, in the page). */
function timedToken(tab: Page, rejected: string): Promise<{ outcome: string; ms: number }> {
  return inTab(
    tab,
    async (harness, token) => {
      const started = performance.now();
      const outcome = await harness.token('a', { rejected: token }).then(() => 'token', (error: { code?: string }) => `error:${error.code}`);
      return { outcome, ms: Math.round(performance.now() - started) };
    },
    rejected,
  );
}

// answerTimeout bounds how long a follower waits, also when the leader stops running (frozen, or its main thread
// blocked) in the middle of a token request and so keeps the credential's request lock: the lock holder says `busy`
// while it works, and once nobody has for answerTimeout the follower stops waiting for the lock (a provider without
// refresh tokens then fetches unlocked).
//
// Page.setWebLifecycleState('frozen') has no effect on these headless pages (they stay visible; timers keep firing),
// so the leader is stopped as in takeover.test.ts's "blocked leader" test: its main thread is kept busy.
it('a leader that stops while its token request is in flight delays a follower by about answerTimeout, not until it runs again', async () => {
  const client = env.server.addClient('stopped-leader');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 2);
  const [first] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leaderIndex = await leaderOf(tabs);
  const leader = tabs[leaderIndex]!;
  const follower = tabs[1 - leaderIndex]!;
  const cdp = await context.newCDPSession(leader);

  // The API refused the token: the follower asks the leader, whose request to the endpoint is held until it stops.
  held.close();
  const waited = timedToken(follower, first!);
  await expect.poll(() => held.arrived, { interval: 10 }).toBe(1);
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' }); // no effect here (see above), kept for real browsers
  // The leader stops running for 9 s while its request is in flight (and so while it holds the request lock).
  const stopped = stop(leader, 9000);

  // README: "If the leader does not answer within answerTimeout … the context gets the token itself": a token about
  // 2 s after asking, not when the leader runs again (~9 s).
  const result = await waited;
  await stopped;
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  expect(result.outcome).toBe('token');
  expect(result.ms).toBeLessThan(4000);
  await context.close();
});

// With a refresh token the follower does not fetch past a stopped lock holder: the holder may be in the middle of a
// rotation, and sending the same refresh token again would get the family revoked. Its wait is still bounded: a typed
// `timeout`, and once the leader runs again its rotation reaches everyone.
it('with a refresh token, a follower of a stopped leader fails with timeout after about answerTimeout, and sends nothing', async () => {
  const client = env.server.addClient('stopped-leader-rt');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial, auto: true }), 2);
  const [first] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leaderIndex = await leaderOf(tabs);
  const leader = tabs[leaderIndex]!;
  const follower = tabs[1 - leaderIndex]!;

  held.close();
  const waited = timedToken(follower, first!);
  await expect.poll(() => held.arrived, { interval: 10 }).toBe(1);
  const stopped = stop(leader, 6000);

  const result = await waited;
  expect(result.outcome).toBe('error:timeout');
  expect(result.ms).toBeLessThan(4000);
  expect(env.server.stats.tokenRequests).toBe(2);
  await stopped;
  // The leader ran again: its rotation was stored and broadcast, and the follower continues from it.
  await expect.poll(() => inTab(follower, (harness) => harness.token())).not.toBe(first);
  expect(env.server.stats.tokenRequests).toBe(2);
  expect(env.server.stats.refreshTokenReuse).toBe(0);
  await context.close();
});
