import { it } from 'vitest';
import { deliveries } from '../support/channel-delivery.js';
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
    // What the browser delivered while the tabs elected and got their tokens (a loaded machine can be slow to).
    const handedOut = Math.max(...logs.flat().filter((entry) => entry.event === 'token').map((entry) => entry.at));
    const slowest = deliveries(traffic, handedOut)[0];
    const timeline = JSON.stringify({
      slowest,
      logs: logs.map((log) => log.map(({ at, event, detail }) => [Math.round(at - handedOut), event, detail])),
    });
    // The message election's promise (docs/browser.md, Degradations): the tabs agree on one leader, which alone asks
    // for the token, as long as messages arrive within the election's response time (responseTime, 150 ms, in
    // src/sharing/browser/election.ts). A tab that hears no answer in time leads too, and a follower whose leader does
    // not answer within answerTimeout (2 s) asks itself. So: exactly 1 request when the browser delivered every
    // message within 150 ms; when it did not, every request comes from a tab that led when it asked (or, with a
    // message slower than 2 s, from a follower that waited that long), one per tab at most.
    if ((slowest?.ms ?? 0) <= 150) {
      expect(new Set(tokens).size, timeline).toBe(1);
      expect(env.server.stats.tokenRequests, timeline).toBe(1);
    } else {
      const fetched = logs.map((log) => log.filter((entry) => entry.event === 'token' && entry.detail === 'endpoint'));
      expect(env.server.stats.tokenRequests, timeline).toBe(fetched.flat().length);
      const ledSince = logs.map((log) => log.find((entry) => entry.event === 'leader' && entry.detail === true)?.at ?? Number.POSITIVE_INFINITY);
      const slow = deliveries(traffic, handedOut).filter((delivery) => delivery.ms > 150);
      const askers = [...fetched.keys()].filter((index) => fetched[index]!.length > 0).sort((a, b) => ledSince[a]! - ledSince[b]!);
      for (const [rank, index] of askers.entries()) {
        expect(fetched[index]!.length, timeline).toBe(1);
        expect(ledSince[index]! <= fetched[index]![0]!.at || slowest!.ms > 2_000, timeline).toBe(true);
        // A second leader was elected because a message between it and the one before came late while it applied.
        if (rank === 0) continue;
        const before = askers[rank - 1]!;
        const late = slow.some(
          (delivery) =>
            [delivery.from, delivery.to].sort().join() === [before, index].sort().join() &&
            delivery.sentAt <= ledSince[index]! &&
            delivery.sentAt >= ledSince[index]! - 1_000,
        );
        expect(late || slowest!.ms > 2_000, timeline).toBe(true);
      }
    }
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
