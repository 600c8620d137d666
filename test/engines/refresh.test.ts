import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, errorsOf, tabCount, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('4 s tokens, 2 s margin, busy tabs for 12 s: one request per token lifetime for all, no call fails', async ({ expect }) => {
    env.server.lifetime = 4;
    const client = env.server.addClient('refresh');
    // Tabs, in WebKit too: in Firefox and WebKit all but the front one are hidden, and their timers run late.
    const tabs = await env.tabs(tabCount(name, 6), { client: client.id, secret: client.secret, margin: 2000 }, { window: false });
    const hidden: boolean[] = [];
    for (const tab of tabs) hidden.push((await env.inTab(tab, (harness) => harness.visibility())) === 'hidden');
    // Headless Chromium shows every page; Firefox the last tab opened; WebKit keeps the harness's first tab in front.
    expect(hidden.filter(Boolean).length).toBe({ chromium: 0, firefox: tabs.length - 1, webkit: tabs.length }[name]);
    await env.inTabs(tabs, (harness) => harness.token());
    for (const tab of tabs) await env.inTab(tab, (harness) => harness.startLoop(250));
    const seconds = 12;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const results = [];
    for (const tab of tabs) results.push(await env.inTab(tab, (harness) => harness.stopLoop()));

    expect(results.flatMap((result) => result.failures)).toEqual([]);
    // Every tab kept calling (hidden Firefox tabs run their timers at most once a second).
    for (const result of results) expect(result.ok).toBeGreaterThan(seconds / 2);
    // One request at start, then one per 2 s (a token is replaced when 2 s of its 4 are left): about 7, never 6×.
    const requests = env.server.stats.tokenRequests;
    expect(requests).toBeGreaterThanOrEqual(1 + Math.floor(seconds / 2) - 2);
    expect(requests).toBeLessThanOrEqual(1 + Math.ceil(seconds / 2) + 1);
    expect(env.server.stats.apiUnauthorized).toBe(0);
    // Only the leader called the endpoint; every other tab received each new token.
    let fetchers = 0;
    for (const tab of tabs) {
      if ((await env.inTab(tab, (harness) => harness.log)).some((entry) => entry.event === 'authenticated')) fetchers++;
      expect(await errorsOf(env, tab)).toEqual([]);
    }
    expect(fetchers).toBe(1);
  });
});
