import { expect, it } from 'vitest';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('two credentials in the same tabs keep separate tokens, leaders, records and sign-outs', async () => {
  const a = env.server.addClient('credential-a');
  const b = env.server.addClient('credential-b');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: a.id, secret: a.secret, client2: b.id, secret2: b.secret });
  const tabs = await openTabs(context, url, 4);
  const both = await Promise.all(
    tabs.map(async (tab) => [await inTab(tab, (harness) => harness.callApi('a')), await inTab(tab, (harness) => harness.callApi('b'))]),
  );
  expect(env.server.stats.issuedByClient).toEqual({ [a.id]: 1, [b.id]: 1 });
  expect(new Set(both.map(([callA]) => callA!.token)).size).toBe(1);
  expect(new Set(both.map(([, callB]) => callB!.token)).size).toBe(1);
  for (const [callA, callB] of both) {
    expect(callA).toMatchObject({ status: 200, client: a.id });
    expect(callB).toMatchObject({ status: 200, client: b.id });
  }
  expect(await inTab(tabs[0]!, (harness) => harness.records())).toHaveLength(2);

  // Signing out of a leaves b alone, everywhere.
  const tokenB = both[0]![1]!.token;
  await inTab(tabs[1]!, (harness) => harness.clear('a'));
  for (const tab of tabs) {
    const log = await logOf(tab);
    expect(log.filter((entry) => entry.session === 'b' && entry.event === 'cleared')).toEqual([]);
    expect(log.filter((entry) => entry.event === 'error')).toEqual([]);
    expect(await inTab(tab, (harness) => harness.token('b'))).toBe(tokenB);
  }
  expect(await inTab(tabs[0]!, (harness) => harness.records())).toHaveLength(1);
  expect(env.server.stats.issuedByClient).toEqual({ [a.id]: 1, [b.id]: 1 });
  await context.close();
});
