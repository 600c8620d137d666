import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('4 s tokens, 2 s margin, 12 busy tabs for 15 s: the leader refreshes about every 2 s for all; no call fails', async () => {
  env.server.lifetime = 4;
  const client = env.server.addClient('refresh');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret, margin: 2000, auto: true }), 12);
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.first)));

  const seconds = 15;
  await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.startLoop(250))));
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const results = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.stopLoop())));

  expect(results.flatMap((result) => result.failures)).toEqual([]);
  expect(results.reduce((sum, result) => sum + result.ok, 0)).toBeGreaterThan(12 * 30);
  // One request at start, then one per 2 s (a token is replaced when 2 s of its 4 are left): about 8, never 12×.
  const requests = env.server.stats.tokenRequests;
  expect(requests).toBeGreaterThanOrEqual(1 + Math.floor(seconds / 2) - 2);
  expect(requests).toBeLessThanOrEqual(1 + Math.ceil(seconds / 2) + 1);
  // Only the leader called the endpoint; every other tab received each new token.
  const logs = await Promise.all(tabs.map((tab) => logOf(tab)));
  const fetchers = logs.filter((log) => log.some((entry) => entry.event === 'authenticated'));
  expect(fetchers).toHaveLength(1);
  for (const log of logs) expect(log.filter((entry) => entry.event === 'error')).toEqual([]);
  await context.close();
});
