import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, leaderCount, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('two credentials in the same tabs keep separate tokens, leaders, records and sign-outs', async ({ expect }) => {
    const a = env.server.addClient('credential-a');
    const b = env.server.addClient('credential-b');
    const tabs = await env.tabs(3, { client: a.id, secret: a.secret, client2: b.id, secret2: b.secret });
    const both = await env.inTabs(tabs, async (harness) => Promise.all([harness.callApi('a'), harness.callApi('b')]));
    expect(env.server.stats.issuedByClient).toEqual({ [a.id]: 1, [b.id]: 1 });
    expect(new Set(both.map(([callA]) => callA.token)).size).toBe(1);
    expect(new Set(both.map(([, callB]) => callB.token)).size).toBe(1);
    for (const [callA, callB] of both) {
      expect(callA).toMatchObject({ status: 200, client: a.id });
      expect(callB).toMatchObject({ status: 200, client: b.id });
    }
    expect(await leaderCount(env, tabs, 'a')).toBe(1);
    expect(await leaderCount(env, tabs, 'b')).toBe(1);
    expect(await env.inTab(tabs[0]!, (harness) => harness.records())).toHaveLength(2);

    // Signing out of a leaves b alone, everywhere.
    const tokenB = both[0]![1].token;
    await env.inTab(tabs[1]!, (harness) => harness.clear('a'));
    for (const tab of tabs) {
      await tab.waitFor(() => (globalThis as unknown as { harness: { log: Array<{ event: string }> } }).harness.log.some((entry) => entry.event === 'cleared'));
      const log = await env.inTab(tab, (harness) => harness.log);
      expect(log.filter((entry) => entry.session === 'b' && entry.event === 'cleared')).toEqual([]);
      expect(log.filter((entry) => entry.event === 'error')).toEqual([]);
      expect(await env.inTab(tab, (harness) => harness.token('b'))).toBe(tokenB);
    }
    const records = (await env.inTab(tabs[0]!, (harness) => harness.records())).map((record) => JSON.parse(record) as { token?: { accessToken: string } });
    expect(records.filter((record) => record.token !== undefined).map((record) => record.token!.accessToken)).toEqual([tokenB]);
    expect(env.server.stats.issuedByClient).toEqual({ [a.id]: 1, [b.id]: 1 });
  });
});
