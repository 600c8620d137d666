import { describe, expect, it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { errorsOf, leaderCount, leaderOf, report, tabCount, useEngine } from '../support/engines/suite.js';

describe.each(ENGINES)('%s', (name) => {
  const env = useEngine(name);

  it('a leader that closes hands over: one new leader, the stored token reused, no new login', async () => {
    const client = env.server.addClient('handover');
    const params = { client: client.id, secret: client.secret };
    const tabs = await env.tabs(tabCount(name, 4), params);
    const [token] = await env.inTabs(tabs, (harness) => harness.token());
    const leader = await leaderOf(env, tabs);
    const closedAt = Date.now();
    await tabs[leader]!.close();
    const survivors = tabs.filter((_, index) => index !== leader);
    const deadline = Date.now() + 10_000;
    while ((await leaderCount(env, survivors)) !== 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await leaderCount(env, survivors)).toBe(1);
    const successor = survivors[await leaderOf(env, survivors)]!;
    const tookOver = (await env.inTab(successor, (harness) => harness.log)).find((entry) => entry.event === 'leader' && entry.detail === true)!;
    report(name, 'takeover after the leader closes', `${Math.max(0, tookOver.at - closedAt).toFixed(0)} ms`);

    const [late] = await env.tabs(1, { ...params, auto: true });
    expect(await env.inTab(late!, (harness) => harness.first)).toBe(token);
    for (const tab of survivors) expect(await env.inTab(tab, (harness) => harness.token())).toBe(token);
    expect(env.server.stats.tokenRequests).toBe(1);
  });

  it('the leader crashes in the middle of a refresh: another tab takes over, no call fails, 1 extra request at most', async (context) => {
    if (!env.engine.supports.crash) context.skip(`${name} cannot crash one page and go on (see test/support/engines/${name}.ts)`);
    env.server.lifetime = 4;
    const client = env.server.addClient('takeover-crash');
    const tabs = await env.tabs(tabCount(name, 5), { client: client.id, secret: client.secret, margin: 2000 });
    await env.inTabs(tabs, (harness) => harness.token());
    const leader = tabs[await leaderOf(env, tabs)]!;
    const survivors = tabs.filter((tab) => tab !== leader);
    for (const tab of tabs) await env.inTab(tab, (harness) => harness.startLoop(100));

    // The refresh ahead of expiry reaches the server, which answers only after 1 s: kill the leader while it waits.
    env.server.latency = 1000;
    const deadline = Date.now() + 6000;
    while (env.server.stats.tokenRequests < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(env.server.stats.tokenRequests).toBe(2);
    const killedAt = Date.now();
    await leader.crash();

    await new Promise((resolve) => setTimeout(resolve, 6000));
    const results = [];
    for (const tab of survivors) results.push(await env.inTab(tab, (harness) => harness.stopLoop()));
    const elapsed = (Date.now() - killedAt) / 1000;
    expect(results.flatMap((result) => result.failures)).toEqual([]);
    // Every survivor kept calling: a hidden Firefox tab runs its 100 ms loop about once a second.
    for (const result of results) expect(result.ok).toBeGreaterThanOrEqual(4);

    expect(await leaderCount(env, survivors)).toBe(1);
    const successor = survivors[await leaderOf(env, survivors)]!;
    const tookOver = (await env.inTab(successor, (harness) => harness.log)).find((entry) => entry.event === 'leader' && entry.detail === true)!;
    report(name, 'takeover after the leader crashes', `${(tookOver.at - killedAt).toFixed(0)} ms`);
    expect(tookOver.at - killedAt).toBeLessThan(2000);
    // The crashed refresh is the only extra request: after it, one per ~(2 s + 1 s latency).
    expect(env.server.stats.tokenRequests).toBeLessThanOrEqual(2 + 1 + Math.ceil(elapsed / 3) + 1);
    for (const tab of survivors) expect(await errorsOf(env, tab)).toEqual([]);
  });
});
