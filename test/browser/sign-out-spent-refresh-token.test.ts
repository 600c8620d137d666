import { expect, it } from 'vitest';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

// After a sign-out, the provider of every other tab still holds the refresh token it was created with, which the
// leader has spent (rotated). A spent refresh token is never sent: the server's reuse detection would fire and, on
// real servers, revoke the whole token family. The session that takes over is signed out (login_required) instead.
it('after clear(), the tab that takes over never sends the original, already-rotated refresh token', async () => {
  const client = env.server.addClient('rt-after-clear');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial });
  const tabs = await openTabs(context, url, 2);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())));
  expect(env.server.stats.tokenRequests).toBe(1); // the leader exchanged `initial` for a new refresh token
  const leader = await leaderOf(tabs);
  const survivor = tabs[1 - leader]!;

  await inTab(tabs[leader]!, (harness) => harness.clear());
  await tabs[leader]!.close();
  await expect.poll(() => inTab(survivor, (harness) => harness.isLeader())).toBe(true);

  const outcome = await inTab(survivor, (harness) => harness.token().then(() => 'token', (error: { code?: string }) => `error:${error.code}`));
  const errors = (await logOf(survivor)).filter((entry) => entry.event === 'error').map((entry) => entry.detail);
  // A spent refresh token is never sent, and nothing fails with an error event (login_required is the session's state).
  expect.soft(env.server.stats.refreshTokenReuse).toBe(0);
  expect.soft({ outcome, errors }).toEqual({ outcome: expect.any(String) as string, errors: [] });
  await context.close();
});
