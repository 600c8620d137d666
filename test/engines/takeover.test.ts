import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, leaderCount, leaderOf, report, tabCount, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('a leader that closes hands over: one new leader, the stored token reused, no new login', async ({ expect }) => {
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

  // Observed through the server (each page posts its calls, leadership and log): WebKit's driver loses every page
  // when one crashes, while the pages themselves run on.
  it('the leader crashes in the middle of a refresh: another tab takes over, no call fails, 1 extra request at most', async ({ expect }) => {
    env.server.lifetime = 4;
    const client = env.server.addClient('takeover-crash');
    const tabs = await env.tabs(tabCount(name, 5), { client: client.id, secret: client.secret, margin: 2000 });
    await env.inTabs(tabs, (harness) => harness.token());
    const leaderIndex = await leaderOf(env, tabs);
    const ids: string[] = [];
    for (const tab of tabs) {
      ids.push(await env.inTab(tab, (harness) => harness.reportId));
      await env.inTab(tab, (harness) => harness.startReporting(100));
    }
    const survivors = ids.filter((_, index) => index !== leaderIndex);

    // The next refresh ahead of expiry reaches the server, which answers only after 1 s: kill the leader while it
    // waits. (Counted from now: on a loaded machine the setup above may outlast a refresh or two, answered at once.)
    env.server.latency = 1000;
    const before = env.server.stats.tokenRequests;
    const deadline = Date.now() + 6000;
    while (env.server.stats.tokenRequests === before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(env.server.stats.tokenRequests).toBe(before + 1);
    const killedAt = Date.now();
    const okAtKill = survivors.map((id) => env.reports.get(id)?.ok ?? 0);
    await tabs[leaderIndex]!.crash();

    await new Promise((resolve) => setTimeout(resolve, 6000));
    // Every survivor has reported since (a hidden Firefox tab calls about once a second).
    const reportedSince = (): boolean => survivors.every((id) => (env.reports.get(id)?.at ?? 0) > killedAt + 4500);
    const waitUntil = Date.now() + 5000;
    while (!reportedSince() && Date.now() < waitUntil) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reportedSince()).toBe(true);
    const reports = survivors.map((id) => env.reports.get(id)!);
    const elapsed = (Date.now() - killedAt) / 1000;
    expect(reports.flatMap((report) => report.failures)).toEqual([]);
    // Every survivor kept calling: a hidden Firefox tab's loop (a call, a report, a 100 ms timer) runs about every 2 s.
    for (const [index, report] of reports.entries()) expect(report.ok - okAtKill[index]!).toBeGreaterThanOrEqual(2);
    expect(env.server.stats.apiUnauthorized).toBe(0);

    const leaders = reports.filter((report) => report.leader);
    expect(leaders).toHaveLength(1);
    const tookOver = leaders[0]!.log.find((entry) => entry.event === 'leader' && entry.detail === true)!;
    report(name, 'takeover after the leader crashes', `${(tookOver.at - killedAt).toFixed(0)} ms`);
    expect(tookOver.at - killedAt).toBeLessThan(2000);
    // The crashed refresh is the only extra request: after it, one per ~(2 s + 1 s latency).
    expect(env.server.stats.tokenRequests).toBeLessThanOrEqual(before + 1 + 1 + Math.ceil(elapsed / 3) + 1);
    for (const report of reports) expect(report.log.filter((entry) => entry.event === 'error')).toEqual([]);
    if (!env.engine.supports.crashEndsDriver) for (const tab of tabs.filter((_, index) => index !== leaderIndex)) await env.inTab(tab, (harness) => harness.stopReporting());
  });
});
