import { it } from 'vitest';
import { judgeMessageElection } from '../support/channel-delivery.js';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, errorsOf, leaderCount, leaderOf, useEngine } from '../support/engines/suite.js';

// Every engine here has IndexedDB, Web Locks and BroadcastChannel on http://127.0.0.1 (checked in the first test),
// so each missing feature is taken away in the page before the first session exists, as test/browser/degraded.test.ts
// does (the tab fixture's `noidb`, `nolocks` and `nobc`).
describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('the engine has every feature browser sharing uses', async ({ expect }) => {
    const [tab] = await env.tabs(1, {});
    expect(
      await env.inTab(tab!, () => ({
        indexedDB: typeof indexedDB.databases,
        locks: typeof navigator.locks?.request,
        channel: typeof BroadcastChannel,
        serviceWorker: typeof navigator.serviceWorker?.register,
      })),
    ).toEqual({ indexedDB: 'function', locks: 'function', channel: 'function', serviceWorker: 'function' });
  });

  it('without IndexedDB the tabs share through the channel and memory (a later tab too), and say so', async ({ expect }) => {
    const client = env.server.addClient('no-idb');
    const params = { client: client.id, secret: client.secret, noidb: true };
    const tabs = await env.tabs(3, params);
    const tokens = await env.inTabs(tabs, (harness) => harness.token());
    expect(new Set(tokens).size).toBe(1);
    const [late] = await env.tabs(1, { ...params, auto: true });
    expect(await env.inTab(late!, (harness) => harness.first)).toBe(tokens[0]);
    expect(env.server.stats.tokenRequests).toBe(1);
    // A tab reports the degradation when it first needs storage: the leader (before it fetched) and the late tab
    // (before it asked the leader). A tab that had the leader's broadcast before its first call never needed it (in
    // Firefox a hidden tab's scheduled start runs up to 1 s late, after the broadcast).
    expect(await errorsOf(env, tabs[await leaderOf(env, tabs)]!)).toEqual(['sharing_degraded']);
    expect(await errorsOf(env, late!)).toEqual(['sharing_degraded']);
    for (const tab of [...tabs, late!]) {
      expect(['', 'sharing_degraded']).toContain((await errorsOf(env, tab)).join());
      expect(await env.inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200 });
    }
  });

  it('without Web Locks the tabs elect a leader by messages, make 1 request, and say so', async ({ expect }) => {
    const client = env.server.addClient('no-locks');
    const tabs = await env.tabs(3, { client: client.id, secret: client.secret, nolocks: true, trace: true });
    const tokens = await env.inTabs(tabs, (harness) => harness.token());
    const logs = await Promise.all(tabs.map((tab) => env.inTab(tab, (harness) => harness.log)));
    const traffic = await Promise.all(tabs.map((tab) => env.inTab(tab, (harness) => harness.traffic)));
    // Judged by what the browser delivered in the same run (a loaded machine can be slow to): see judgeMessageElection.
    const { broken, timeline } = judgeMessageElection({ logs, traffic, tokens, requests: env.server.stats.tokenRequests });
    expect(broken, timeline).toEqual([]);
    const deadline = Date.now() + 10_000;
    while ((await leaderCount(env, tabs)) !== 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await leaderCount(env, tabs)).toBe(1);
    for (const tab of tabs) expect(await errorsOf(env, tab)).toEqual(['sharing_degraded']);
  });

  it('without BroadcastChannel each tab keeps its own session in memory, and says so', async ({ expect }) => {
    const client = env.server.addClient('no-channel');
    const tabs = await env.tabs(2, { client: client.id, secret: client.secret, nobc: true });
    const tokens = await env.inTabs(tabs, (harness) => harness.token());
    expect(new Set(tokens).size).toBe(2);
    expect(env.server.stats.tokenRequests).toBe(2);
    for (const tab of tabs) {
      expect(await errorsOf(env, tab)).toEqual(['sharing_degraded']);
      expect(await env.inTab(tab, (harness) => harness.callApi())).toMatchObject({ status: 200 });
    }
  });
});
