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

// The sign-out is kept in the credential's IndexedDB record, so a tab opened after it — which never got the `clear`
// message — learns of it too, and does not send the refresh token it was created with (spent by the old leader).
it('a tab opened after the sign-out never sends the original refresh token either', async () => {
  const client = env.server.addClient('rt-opened-after-clear');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial });
  const [first] = await openTabs(context, url, 1);
  await inTab(first!, (harness) => harness.token());
  await inTab(first!, (harness) => harness.clear());
  await first!.close();

  const [late] = await openTabs(context, url, 1);
  const outcomes: string[] = [];
  for (let call = 0; call < 3; call++) {
    outcomes.push(await inTab(late!, (harness) => harness.token().then(() => 'token', (error: { code?: string }) => `error:${error.code}`)));
  }
  // Signed out from its first call on, as a tab that heard the sign-out is: `cleared`, then login_required (no error).
  expect(outcomes).toEqual(['error:login_required', 'error:login_required', 'error:login_required']);
  const log = (await logOf(late!)).map((entry) => `${entry.event}:${String(entry.detail)}`);
  expect(log.filter((entry) => !entry.startsWith('leader:'))).toEqual(['cleared:remote']);
  expect(env.server.stats.tokenRequests).toBe(1);
  expect(env.server.stats.refreshTokenReuse).toBe(0);
  await context.close();
});
