import { expect, it } from 'vitest';
import { FORMAT } from '../../src/sharing/browser/messages.js';
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
  // a's record keeps its sign-out (for tabs opened later) and no token; b's is untouched.
  const records = (await inTab(tabs[0]!, (harness) => harness.records())).map((record) => JSON.parse(record) as { key: string; token?: { accessToken: string } });
  expect(records).toHaveLength(2);
  expect(records.filter((record) => record.token !== undefined).map((record) => record.token!.accessToken)).toEqual([tokenB]);
  expect(records.filter((record) => record.token === undefined)).toEqual([
    { v: FORMAT, key: await inTab(tabs[0]!, (harness) => harness.key('a')), clearedAt: expect.any(Number) as number },
  ]);
  expect(env.server.stats.issuedByClient).toEqual({ [a.id]: 1, [b.id]: 1 });
  await context.close();
});
