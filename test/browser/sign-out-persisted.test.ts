import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';
import { leaderOf } from '../support/probe-tabs.js';

const env = useTabs();

// The sign-out is kept where the token is: clear() writes it into the IndexedDB record at once (not after the request
// lock), so a tab opened later, which never got the `clear` message, still learns of it and never adopts a token
// issued before it — not even while the leader's request from before the sign-out is still in flight and holds the lock.
it('a tab opened after a sign-out, while a request from before it is in flight, never gets a token issued before it', async () => {
  const client = env.server.addClient('clear-window');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true });
  const tabs = await openTabs(context, url, 3);
  const [before] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  const leader = await leaderOf(tabs);
  const follower = tabs[(leader + 1) % 3]!;
  const clearer = tabs[(leader + 2) % 3]!;

  // A follower reports the token as rejected: the leader fetches a new one for it (holding the lock) for 2.5 s.
  env.server.latency = 2500;
  const rejectedCall = inTab(follower, (harness, rejected) => harness.token('a', { rejected }).catch((error: { code?: string }) => `error:${error.code}`), before);
  await expect.poll(() => env.server.stats.tokenRequests, { interval: 10 }).toBe(2);

  // Sign out in a third tab, and open a new tab of the app a moment later, while that request is still in flight.
  const clearing = inTab(clearer, (harness) => harness.clear());
  await new Promise((resolve) => setTimeout(resolve, 100));
  env.server.latency = 0;
  const [late] = await openTabs(context, url, 1);
  const lateToken = await inTab(late!, (harness) => harness.first);
  await clearing;
  expect(await rejectedCall).toBe('error:aborted');

  // No context hands out a token issued before the sign-out: the new tab did not adopt it from IndexedDB ('storage'),
  // and does not hand it out after clear() resolved either.
  const sources = (await logOf(late!)).filter((entry) => entry.event === 'token').map((entry) => entry.detail);
  expect.soft(sources).not.toContain('storage');
  expect.soft(lateToken).not.toBe(before);
  expect.soft(await inTab(late!, (harness) => harness.token())).not.toBe(before);
  expect.soft(await inTab(late!, (harness) => harness.callApi())).not.toMatchObject({ status: 200, token: before });
  await context.close();
});
