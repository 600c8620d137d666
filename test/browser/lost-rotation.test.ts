import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

const outcome = (tab: Page, options?: { forceRefresh: boolean }): Promise<string> =>
  inTab(tab, (harness, forced) => harness.token('a', forced).then(() => 'token', (error: { code?: string }) => `error:${error.code}`), options);

// A leader crashes after the server rotated the refresh token and before the new one reached IndexedDB: the new
// refresh token is lost for every context. The record says so: the leader wrote `rotating` (naming its Web Lock)
// before its request left, and the crash released that lock with the rotation unfinished. The next leader does not
// send the refresh token the record holds (the server has spent it): every context is signed out at once
// (login_required), and no spent refresh token is sent at all. (Before the record, the next leader sent it once and
// got invalid_grant; the server counted one reuse, which a provider with reuse detection answers by revoking the
// family.)
it('a rotation lost in a crash signs every tab out without sending the spent refresh token: login_required, no retry storm', async () => {
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

  // The next leader finds the rotation lost and sends nothing: every tab is signed out.
  expect(await outcome(survivor, { forceRefresh: true })).toBe('error:login_required');
  await expect.poll(async () => (await logOf(bystander)).filter((entry) => entry.event === 'cleared').map((entry) => entry.detail)).toEqual(['remote']);
  for (let call = 0; call < 5; call++) {
    for (const tab of [survivor, bystander]) expect(await outcome(tab)).toBe('error:login_required');
  }
  expect(env.server.stats.refreshTokenReuse).toBe(0);
  expect(env.server.stats.tokenRequests).toBe(2);

  // The sign-out is in the record, which keeps no refresh token any more: a tab opened later sends nothing either.
  const records = await inTab(survivor, (harness) => harness.records());
  expect(records).toHaveLength(1);
  expect(records[0]).not.toContain('rt_');
  const [late] = await openTabs(context, url, 1);
  for (let call = 0; call < 3; call++) expect(await outcome(late!)).toBe('error:login_required');
  expect((await logOf(late!)).filter((entry) => entry.event === 'error')).toEqual([]);
  expect(env.server.stats.tokenRequests).toBe(2);
  expect(env.server.stats.refreshTokenReuse).toBe(0);
  await context.close();
});
