import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, leaderOf, report, tabCount, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('a sign-out in one tab reaches every tab; the next token serves all; a tab opened later never sees the old one', async ({ expect }) => {
    const client = env.server.addClient('sign-out');
    const params = { client: client.id, secret: client.secret };
    const tabs = await env.tabs(tabCount(name, 6), params);
    const [before] = await env.inTabs(tabs, (harness) => harness.token());
    const signer = tabs.length - 1;

    // Timestamps are taken in the pages (one wall clock), not by the driver.
    const started = await env.inTab(tabs[signer]!, (harness) => harness.clear());
    const delays: number[] = [];
    for (const [index, tab] of tabs.entries()) {
      await tab.waitFor(() => (globalThis as unknown as { harness: { log: Array<{ event: string }> } }).harness.log.some((entry) => entry.event === 'cleared'));
      const cleared = (await env.inTab(tab, (harness) => harness.log)).filter((entry) => entry.event === 'cleared');
      expect(cleared.map((entry) => entry.detail)).toEqual([index === signer ? 'local' : 'remote']);
      if (index !== signer) delays.push(cleared[0]!.at - started);
    }
    report(name, `sign-out reaches ${tabs.length - 1} other tabs`, `${Math.max(...delays).toFixed(1)} ms (max)`);
    // Bounded generously: a hidden Firefox tab is woken for a message at once, but the machine is loaded.
    expect(Math.max(...delays)).toBeLessThan(1000);

    const [late] = await env.tabs(1, params);
    expect((await env.inTab(late!, (harness) => harness.log)).filter((entry) => entry.event === 'token')).toEqual([]);
    const after = await env.inTabs([...tabs, late!], (harness) => harness.token());
    expect(new Set(after).size).toBe(1);
    expect(after[0]).not.toBe(before);
    expect(env.server.stats.tokenRequests).toBe(2);
  });

  it('a refresh-token session signed out stays signed out, in its tabs and in a tab opened later; no spent token is sent', async ({ expect }) => {
    const client = env.server.addClient('sign-out-refresh-token');
    const initial = env.server.issueRefreshToken(client.id);
    const params = { client: client.id, secret: client.secret, rt: initial };
    const tabs = await env.tabs(2, params);
    await env.inTabs(tabs, (harness) => harness.token());
    expect(env.server.stats.tokenRequests).toBe(1);
    const leader = await leaderOf(env, tabs);
    await env.inTab(tabs[leader]!, (harness) => harness.clear());
    await tabs[leader]!.close();
    const survivor = tabs[1 - leader]!;
    await survivor.waitFor(() => (globalThis as unknown as { harness: { isLeader(): boolean } }).harness.isLeader());

    const [late] = await env.tabs(1, params);
    for (const tab of [survivor, late!]) {
      const outcome = await env.inTab(tab, (harness) => harness.token().then(() => 'token', (error: { code?: string }) => `error:${error.code}`));
      expect(outcome).toBe('error:login_required');
    }
    expect(env.server.stats.tokenRequests).toBe(1);
    expect(env.server.stats.refreshTokenReuse).toBe(0);
  });
});
