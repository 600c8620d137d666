import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

const accessTokenOf = (tab: Page, options?: { forceRefresh: boolean }): Promise<string> =>
  inTab(tab, (harness, forced) => harness.token('a', forced).then((token: string) => token, (error: { code?: string }) => `error:${error.code}`), options);

// The rule, through the browser transport: a refresh token is never sent twice. The leader tab's refresh is answered
// after its attempt timeout (300 ms; the server takes 1.5 s, and rotates): the request is waited on, not retried,
// and the `rotating` marker stays while it is, so no other tab sends that refresh token either. Every tab ends with
// the late answer's token.
it('a refresh answered after the attempt timeout, with every tab asking meanwhile: one send, no reuse, every tab served', async () => {
  const client = env.server.addClient('late-answer-tabs');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial, timeout: 300 }), 3);
  await Promise.all(tabs.map((tab) => accessTokenOf(tab)));
  expect(env.server.stats.tokenRequests).toBe(1);
  const leader = tabs[await leaderOf(tabs)]!;
  env.server.latency = 1_500;
  const refreshed = accessTokenOf(leader, { forceRefresh: true });
  await expect.poll(() => env.server.stats.tokenRequests).toBe(2);
  const meanwhile = await Promise.all(tabs.filter((tab) => tab !== leader).map((tab) => accessTokenOf(tab, { forceRefresh: true })));
  const fresh = await refreshed;
  env.server.latency = 0;
  expect(fresh).toMatch(/^at_/);
  for (const token of meanwhile) expect(token).not.toMatch(/^error:(invalid_grant|login_required)$/);
  await expect.poll(() => Promise.all(tabs.map((tab) => accessTokenOf(tab)))).toEqual([fresh, fresh, fresh]);
  expect({ sent: env.server.stats.tokenRequests, reused: env.server.stats.refreshTokenReuse }).toEqual({ sent: 2, reused: 0 });
  await context.close();
}, 60_000);
