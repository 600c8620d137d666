import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

const outcome = (tab: Page, options?: { forceRefresh: boolean }): Promise<string> =>
  inTab(tab, (harness, forced) => harness.token('a', forced).then(() => 'token', (error: { code?: string }) => `error:${error.code}`), options);

// A leader crashes after the server rotated the refresh token and before the new one reached IndexedDB: the new
// refresh token is lost for every context. The next leader can only send the one the record holds, which the server
// has spent: it answers invalid_grant. That refresh token family is dead, so every context is signed out at once
// (login_required) instead of each trying it again — one spent refresh token is sent, once.
it('a rotation lost in a crash signs every tab out after one invalid_grant: login_required, no retry storm', async () => {
  const client = env.server.addClient('lost-rotation');
  const initial = env.server.issueRefreshToken(client.id);
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, rt: initial });
  const tabs = await openTabs(context, url, 3);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())));
  expect(env.server.stats.tokenRequests).toBe(1);
  const leaderIndex = await leaderOf(tabs);
  const leader = tabs[leaderIndex]!;
  const others = tabs.filter((tab) => tab !== leader);

  // The leader's refresh reaches the server, which rotates the refresh token; the leader crashes before it hears back.
  let crashed!: () => void;
  const crash = new Promise<void>((resolve) => (crashed = resolve));
  await leader.route('**/token', async (route) => {
    await route.fetch();
    await leader.goto('chrome://kill').catch(() => undefined);
    crashed();
  });
  void outcome(leader, { forceRefresh: true }).catch(() => undefined);
  await crash;
  expect(env.server.stats.tokenRequests).toBe(2);
  await expect.poll(() => leaderOf(others)).not.toBe(-1);
  const survivor = others[await leaderOf(others)]!;
  const bystander = others.find((tab) => tab !== survivor)!;

  // The next leader sends what the record holds: spent. One invalid_grant, then every tab is signed out.
  expect(await outcome(survivor, { forceRefresh: true })).toBe('error:invalid_grant');
  await expect.poll(async () => (await logOf(bystander)).filter((entry) => entry.event === 'cleared').map((entry) => entry.detail)).toEqual(['remote']);
  for (let call = 0; call < 5; call++) {
    for (const tab of [survivor, bystander]) expect(await outcome(tab)).toBe('error:login_required');
  }
  expect(env.server.stats.refreshTokenReuse).toBe(1);
  expect(env.server.stats.tokenRequests).toBe(3);

  // The sign-out is in the record, which keeps no refresh token any more: a tab opened later sends nothing either.
  const records = await inTab(survivor, (harness) => harness.records());
  expect(records).toHaveLength(1);
  expect(records[0]).not.toContain('rt_');
  const [late] = await openTabs(context, url, 1);
  for (let call = 0; call < 3; call++) expect(await outcome(late!)).toBe('error:login_required');
  expect((await logOf(late!)).filter((entry) => entry.event === 'error')).toEqual([]);
  expect(env.server.stats.tokenRequests).toBe(3);
  expect(env.server.stats.refreshTokenReuse).toBe(1);
  await context.close();
});
