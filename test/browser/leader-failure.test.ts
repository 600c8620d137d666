import { expect, it } from 'vitest';
import { inTab, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

it('a refused credential fails every tab that asked meanwhile, with the OAuth error code, in 1 request', async () => {
  const client = env.server.addClient('refused');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: 'wrong' }), 5);
  // Slow enough that every tab asks while the leader's request is in flight (a later call is a new attempt, as in
  // one context).
  env.server.latency = 500;
  const outcomes = await Promise.all(
    tabs.map((tab) => inTab(tab, (harness) => harness.token().then(String, (error: { code?: string }) => error.code))),
  );
  expect(outcomes).toEqual(Array(5).fill('invalid_client'));
  expect(env.server.stats.tokenRequests).toBe(1);
  await context.close();
});

it('while the leader retries a failing endpoint the other tabs wait for it instead of calling it too', async () => {
  const client = env.server.addClient('retried');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret }), 5);
  // Retry-After: 1 s each, so the retries outlast the followers' answer timeout (2 s): they fall back to the lock.
  env.server.failNext(3, 503, { retryAfter: '1' });
  const tokens = await Promise.all(tabs.map((tab) => inTab(tab, (harness) => harness.token())));
  expect(new Set(tokens).size).toBe(1);
  // Three 503s and one success, all from the leader; the followers found its token when they got the lock.
  expect(env.server.stats.tokenRequests).toBe(4);
  await context.close();
});
