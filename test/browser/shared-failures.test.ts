import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { FORMAT } from '../../src/sharing/browser/messages.js';
import { leaderOf } from '../support/probe-tabs.js';
import { inTab, logOf, openTabs, tabUrl, useTabs } from '../support/tabs.js';

const env = useTabs();

interface Outcome {
  token?: string | undefined;
  code?: string | undefined;
  retryAfter?: number | undefined;
}

const call = (tab: Page): Promise<Outcome> =>
  inTab(tab, (harness) =>
    harness.token().then(
      (token) => ({ token }),
      (error: { code?: string; retryAfter?: number }) => ({ code: error.code, retryAfter: error.retryAfter }),
    ),
  );

// A 429 with Retry-After is the server asking every client to wait: every tab that is waiting, and every later caller
// in every tab (also tabs opened later), fails with it and the time that is left, and nobody asks again before then.
it('a 429 with Retry-After reaches every waiting and later caller of every tab, with its retryAfter: 1 request', async () => {
  const client = env.server.addClient('shared-429');
  const context = await env.browser.newContext();
  const url = tabUrl(env.server.origin, { client: client.id, secret: client.secret });
  const tabs = await openTabs(context, url, 3);
  await expect.poll(() => leaderOf(tabs)).not.toBe(-1);
  // Longer than the provider's maxDelay (30 s): not retried, the failure carries retryAfter = 60 000 ms.
  env.server.failNext(1, 429, { retryAfter: '60', body: JSON.stringify({ error: 'slow_down' }) });
  env.server.latency = 300; // every tab asks while the leader's request is in flight

  // When each call settled (at the latest): the time left it carries is at least 60 s minus the time since the 429
  // came back, which is after `asked` (the bound follows what the machine delivered, not a fixed 5 s of slack).
  const asked = Date.now();
  const timed = async (tab: Page): Promise<Outcome & { settled: number }> => ({ ...(await call(tab)), settled: Date.now() });
  const first = await Promise.all(tabs.map(timed));
  const outcomes = [...first];
  const until = Date.now() + 2_000;
  while (Date.now() < until) outcomes.push(...(await Promise.all(tabs.map(timed))));
  const [late] = await openTabs(context, url, 1);
  outcomes.push(await timed(late!));

  for (const outcome of outcomes) {
    expect(outcome.code).toBe('rate_limited');
    // 50 ms: the clocks' granularity (the page rounds, and reads the time before the call settles here).
    expect(outcome.retryAfter).toBeGreaterThanOrEqual(60_000 - (outcome.settled - asked) - 50);
    expect(outcome.retryAfter).toBeLessThanOrEqual(60_000);
  }
  expect(outcomes.length).toBeGreaterThan(3 * 5);
  // The time left goes down: it is remembered from the one answer, not asked for again.
  expect(outcomes.at(-1)!.retryAfter).toBeLessThan(first[0]!.retryAfter!);
  expect(env.server.stats.tokenRequests).toBe(1);
  await context.close();
});

// Every `request` names itself, and a `failed` answers exactly one: a context gives up waiting only on the failure of
// its own request. A failure that answers another context's request, or none, is not about this one.
it('a waiting tab settles on the failure of its own request only; failures of other requests or of none are ignored', async () => {
  const client = env.server.addClient('own-failures');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, tabUrl(env.server.origin, { client: client.id, secret: client.secret }), 2);
  await expect.poll(() => leaderOf(tabs)).not.toBe(-1);
  const follower = tabs[1 - (await leaderOf(tabs))]!;
  env.server.latency = 800;
  const waiting = call(follower);
  await expect.poll(() => env.server.stats.tokenRequests, { interval: 10 }).toBe(1);
  const before = (await logOf(follower)).length;
  await inTab(
    tabs[0]!,
    (harness, v) => {
      const key = harness.key();
      harness.post({ v, key, type: 'failed', id: 'another-context-1', code: 'invalid_client' }); // someone else's
      harness.post({ v, key, type: 'failed', code: 'invalid_client' }); // answers no request: malformed
    },
    FORMAT,
  );

  const outcome = await waiting;
  expect(outcome.token).toMatch(/^at_/);
  expect(env.server.stats.tokenRequests).toBe(1);
  // Only the malformed one is reported; another context's failure is ordinary traffic.
  const added = (await logOf(follower)).slice(before).filter((entry) => entry.event === 'error').map((entry) => entry.detail);
  expect(added).toEqual(['invalid_message']);
  await context.close();
});
