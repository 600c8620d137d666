import { expect, it } from 'vitest';
import { inProbe, probeUrl, useProbeTabs } from '../support/probe-tabs.js';
import { logOf, openTabs } from '../support/tabs.js';
import { FORMAT } from '../../src/sharing/browser/messages.js';

const env = useProbeTabs();

// Every timestamp from a message is bounded by the receiver's clock: a 'token' with a future `issuedAt` counts as
// issued now (its lifetime kept), so it is not "newer" than everything the endpoint will ever issue. The first 401
// replaces it for every tab with one request, as any revoked token.
it('a forged token message with a future issuedAt is replaced at its first 401, in every tab, with one request', async () => {
  const client = env.server.addClient('forged-future');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, probeUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true }), 3);
  const [good] = await Promise.all(tabs.map((tab) => inProbe(tab, (harness) => harness.first)));
  expect(env.server.stats.tokenRequests).toBe(1);

  await inProbe(tabs[0]!, (harness, v) => {
    const issuedAt = Date.now() + 10 * 365 * 24 * 3_600_000; // ten years ahead
    harness.post({ v, key: harness.key(), type: 'token', token: { accessToken: 'forged', tokenType: 'Bearer', issuedAt, expiresAt: issuedAt + 3_600_000 } });
  }, FORMAT);
  await new Promise((resolve) => setTimeout(resolve, 200));

  // Three API calls per tab through fetchWithToken (the one implementation of the 401 rule).
  const outcomes = [];
  for (const tab of tabs) for (let call = 0; call < 3; call++) outcomes.push(await inProbe(tab, (harness) => harness.apiCall()));

  // The forged token is gone (replaced once by the 401 rule), every call succeeds with a real token, and the endpoint
  // saw at most one more request.
  expect.soft(await Promise.all(tabs.map((tab) => inProbe(tab, (harness) => harness.token())))).not.toContain('forged');
  expect.soft(outcomes.map((outcome) => outcome.status ?? outcome.error)).toEqual(Array(9).fill(200));
  expect.soft(env.server.stats.tokenRequests).toBeLessThanOrEqual(2);
  expect.soft(good).toBeDefined();
  await context.close();
});

// A record cannot have been written in the reader's future by a context of this browser: one with an `issuedAt` or a
// `clearedAt` ahead of the clock is corrupt (deleted, reported), not a token that is "newer" than every real one or a
// sign-out that would kill every token for years.
it('a record from the future is corrupt: deleted and reported, and the next token is stored and adopted again', async () => {
  const client = env.server.addClient('record-from-the-future');
  const url = probeUrl(env.server.origin, { client: client.id, secret: client.secret, auto: true });
  const context = await env.browser.newContext();
  const [first] = await openTabs(context, url, 1);
  const before = await inProbe(first!, (harness) => harness.first);
  const key = await inProbe(first!, (harness) => harness.key());
  await first!.close();

  const [tool] = await openTabs(context, probeUrl(env.server.origin, {}), 1);
  const future = Date.now() + 10 * 365 * 24 * 3_600_000;
  const token = { accessToken: 'from-the-future', tokenType: 'Bearer', issuedAt: future, expiresAt: future + 3_600_000 };
  for (const damage of [{ v: FORMAT, key, token }, { v: FORMAT, key, clearedAt: future }]) {
    await inProbe(tool!, (harness, value) => harness.corruptRecords(value), damage);
    env.server.resetStats();
    const [tab] = await openTabs(context, url, 1);
    const fresh = await inProbe(tab!, (harness) => harness.first);
    expect(fresh).not.toBe(before);
    expect(fresh).not.toBe('from-the-future');
    expect(env.server.stats.tokenRequests).toBe(1);
    const events = (await logOf(tab!)).filter((entry) => entry.event === 'error' || entry.event === 'token');
    expect(events.map((entry) => `${entry.event}:${String(entry.detail)}`)).toEqual(['error:corrupt_storage', 'token:endpoint']);
    const [next] = await openTabs(context, url, 1);
    expect(await inProbe(next!, (harness) => harness.first)).toBe(fresh);
    expect(env.server.stats.tokenRequests).toBe(1);
    await tab!.close();
    await next!.close();
  }
  await context.close();
});
