import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, errorsOf, leaderCount, median, report, tabCount, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('tabs asking at the same moment make 1 token request and share its token; a tab opened later makes none', async ({ expect }) => {
    const client = env.server.addClient('cold-start');
    const params = { client: client.id, secret: client.secret };
    const tabs = await env.tabs(tabCount(name, 8), params);
    const started = await env.inTabs(tabs, async (harness) => {
      const at = harness.now();
      const token = await harness.token();
      return { token, ms: harness.now() - at };
    });
    expect(env.server.stats.tokenRequests).toBe(1);
    expect(new Set(started.map((start) => start.token)).size).toBe(1);
    expect(await leaderCount(env, tabs)).toBe(1);
    for (const tab of tabs) expect(await env.inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200 });
    report(name, `cold start, ${tabs.length} tabs`, `every tab has the token after ${median(started.map((start) => start.ms)).toFixed(0)} ms (median), ${Math.max(...started.map((start) => start.ms)).toFixed(0)} ms (max)`);

    const [late] = await env.tabs(1, { ...params, auto: true });
    expect(await env.inTab(late!, (harness) => harness.first)).toBe(started[0]!.token);
    expect(env.server.stats.tokenRequests).toBe(1);
    // Adopted from IndexedDB, not from the network and not from the leader.
    const sources = (await env.inTab(late!, (harness) => harness.log)).filter((entry) => entry.event === 'token').map((entry) => entry.detail);
    expect(sources).toEqual(['storage']);
    for (const tab of [...tabs, late!]) expect(await errorsOf(env, tab)).toEqual([]);
  });
});
