import { expect, it } from 'vitest';
import { inProbe, probeUrl, useProbeTabs } from '../support/probe-tabs.js';
import { openTabs } from '../support/tabs.js';
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
