import { expect, it } from 'vitest';
import { inTab, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('a token rejected by an API (401) is replaced once for every tab, however many tabs report it', async () => {
  const client = env.server.addClient('rejected');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 5);
  const [first] = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));

  // Every tab saw a 401 with the first token at about the same time.
  const second = await Promise.all(tabs.map((tab) => inTab(tab, (harness, rejected) => harness.token('a', { rejected }), first)));
  expect(new Set(second).size).toBe(1);
  expect(second[0]).not.toBe(first);
  expect(env.server.stats.tokenRequests).toBe(2);

  // A late report of the old token changes nothing; a report of the current one, from a follower, refreshes once.
  expect(await inTab(tabs[3]!, (harness, rejected) => harness.token('a', { rejected }), first)).toBe(second[0]);
  expect(env.server.stats.tokenRequests).toBe(2);
  const leaders = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.isLeader())));
  const follower = tabs[leaders.indexOf(false)]!;
  const third = await inTab(follower, (harness, rejected) => harness.token('a', { rejected }), second[0]);
  expect(third).not.toBe(second[0]);
  expect(env.server.stats.tokenRequests).toBe(3);
  expect(await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())))).toEqual(Array(5).fill(third));
  await context.close();
});
