import { it } from 'vitest';
import { ENGINES } from '../support/engines/index.js';
import { describeEngines, leaderOf, useEngine } from '../support/engines/suite.js';

describeEngines(ENGINES, (name) => {
  const env = useEngine(name);

  it('a token the API refused is replaced once for every tab (fetchWithToken and getToken({ rejected }))', async ({ expect }) => {
    const client = env.server.addClient('rejected');
    const tabs = await env.tabs(3, { client: client.id, secret: client.secret });
    const [first] = await env.inTabs(tabs, (harness) => harness.token());

    // The server revokes every token: each tab's call through the 401 rule sees a 401, and all share one refresh.
    env.server.revokeAll();
    const calls = await env.inTabs(tabs, (harness) => harness.apiCall());
    expect(calls.map((call) => call.status)).toEqual([200, 200, 200]);
    expect(new Set(calls.map((call) => call.token)).size).toBe(1);
    expect(calls[0]!.token).not.toBe(first);
    expect(env.server.stats.tokenRequests).toBe(2);

    // A late report of the old token changes nothing; a report of the current one, from a follower, refreshes once.
    const second = calls[0]!.token!;
    expect(await env.inTab(tabs[0]!, (harness, rejected) => harness.token('a', { rejected }), first)).toBe(second);
    expect(env.server.stats.tokenRequests).toBe(2);
    const follower = tabs[((await leaderOf(env, tabs)) + 1) % tabs.length]!;
    const third = await env.inTab(follower, (harness, rejected) => harness.token('a', { rejected }), second);
    expect(third).not.toBe(second);
    expect(env.server.stats.tokenRequests).toBe(3);
    expect(await env.inTabs(tabs, (harness) => harness.token())).toEqual([third, third, third]);
  });

  it('createClient: an API that always answers 401 ends in token_rejected after two attempts', async ({ expect }) => {
    const client = env.server.addClient('always-401');
    const [tab] = await env.tabs(1, { client: client.id, secret: client.secret });
    expect(await env.inTab(tab!, (harness) => harness.clientCall('api/always-401'))).toEqual({ error: 'SessionError', code: 'token_rejected' });
    expect(env.always401.count).toBe(2);
    expect(await env.inTab(tab!, (harness) => harness.clientCall('api/echo'))).toMatchObject({ status: 200 });
  });

  it('the service worker (installAuthFetch) authorises a page with no auth code, and refreshes once after a 401', async (context) => {
    const { expect } = context;
    if (!env.engine.supports.serviceWorker) context.skip(`${name} has no service worker on http://127.0.0.1`);
    const client = env.server.addClient('auth-sw');
    const page = await env.engine.open(`${env.server.origin}/sw.html?client=${client.id}&secret=${client.secret}`);
    try {
      await page.waitFor(() => document.title === 'ready');
      const fetchAll = (): Promise<number[]> =>
        page.evaluate(() => Promise.all([1, 2, 3].map(async () => (await fetch('/api/echo')).status)));
      expect(await fetchAll()).toEqual([200, 200, 200]);
      expect(env.server.stats.tokenRequests).toBe(1);
      env.server.revokeAll();
      expect(await fetchAll()).toEqual([200, 200, 200]);
      expect(env.server.stats.tokenRequests).toBe(2);
      // Always 401: two attempts, the page gets the 401.
      expect(await page.evaluate(async () => (await fetch('/api/always-401')).status)).toBe(401);
      expect(env.always401.count).toBe(2);
    } finally {
      await page.close();
    }
  });
});
