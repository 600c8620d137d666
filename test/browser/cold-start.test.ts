import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('12 tabs at cold start make 1 token request, share its token, call the API; a 13th tab makes none', async () => {
  const client = env.server.addClient('cold-start');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true });

  const tabs = await openTabs(context, url, 12);
  const tokens = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));
  expect(env.server.stats.tokenRequests).toBe(1);
  expect(new Set(tokens).size).toBe(1);
  const calls = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.callApi())));
  expect(calls.map((call) => call.status)).toEqual(Array(12).fill(200));
  const leaders = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())));
  expect(leaders.filter(Boolean)).toHaveLength(1);

  const [late] = await openTabs(context, url, 1);
  expect(await inTab(late!, (harness) => harness.first)).toBe(tokens[0]);
  expect(await inTab(late!, (harness) => harness.callApi())).toMatchObject({ status: 200 });
  expect(env.server.stats.tokenRequests).toBe(1);
  // Adopted from IndexedDB, not from the network and not from the leader.
  expect((await logOf(late!)).filter((entry) => entry.event === 'token').map((entry) => entry.detail)).toEqual(['storage']);
  for (const tab of [...tabs, late!]) expect((await logOf(tab)).filter((entry) => entry.event === 'error')).toEqual([]);
  await context.close();
});
