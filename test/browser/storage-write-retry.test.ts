import { expect, it } from 'vitest';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

// A failed IndexedDB write (a transient QuotaExceededError) is reported once, and storage is tried again on the next
// write: the leader's next rotation is stored, so the context that takes over continues from the newest refresh token
// instead of one the leader has since spent.
it('after one transient quota error the next rotation is stored; the next leader continues from the newest refresh token', async () => {
  const client = env.server.addClient('rt-quota');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial }), 2);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())));
  const leaderIndex = await leaderOf(tabs);
  const leader = tabs[leaderIndex]!;
  const survivor = tabs[1 - leaderIndex]!;

  // One write fails with QuotaExceededError (CDP's Storage.overrideQuotaForOrigin did not make these small writes
  // fail, so the leader's IDBObjectStore.put throws it, once), then there is room again.
  await leader.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function once() {
      IDBObjectStore.prototype.put = put;
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
  });
  await inTab(leader, (harness) => harness.token('a', { forceRefresh: true }));
  const last = await inTab(leader, (harness) => harness.token('a', { forceRefresh: true }));
  expect(env.server.stats.tokenRequests).toBe(3);
  const leaderErrors = (await logOf(leader)).filter((entry) => entry.event === 'error').map((entry) => entry.detail);
  const stored = JSON.parse((await inTab(leader, (harness) => harness.records()))[0]!) as { token: { accessToken: string } };

  // The leader goes away; the survivor takes over and needs a new token.
  await leader.close();
  await expect.poll(() => inTab(survivor, (harness) => harness.isLeader())).toBe(true);
  const outcome = await inTab(survivor, (harness, rejected) => harness.token('a', { rejected }).then(() => 'token', (error: { code?: string }) => `error:${error.code}`), last);

  // Once there is room again the leader's next rotation is stored, and the survivor continues from it.
  expect.soft({ leaderErrors, storedIsLatest: stored.token.accessToken === last }).toEqual({ leaderErrors: ['sharing_degraded'], storedIsLatest: true });
  expect.soft(env.server.stats.refreshTokenReuse).toBe(0);
  expect.soft(outcome).toBe('token');
  await context.close();
});
