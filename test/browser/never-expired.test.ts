import { expect, it } from 'vitest';
import { inProbe, leaderOf, probeUrl, useProbeTabs } from '../support/probe-tabs.js';
import { logOf, openTabs } from '../support/tabs.js';

const env = useProbeTabs();

// `expiresAt` counts from when the request was sent, so an endpoint slower than its tokens live hands out tokens that
// are dead on arrival. No context may hand one out: not the one that fetched it, not a follower that asked it. With no
// grant to keep (client credentials) the leader does not ask again: `token_expired` (was `invalid_response`) for both.
it('a token that expired before the endpoint answered is never handed out, in any tab: a typed error instead', async () => {
  env.server.lifetime = 1; // 1 s tokens
  env.server.latency = 1300; // answered after 1.3 s
  const client = env.server.addClient('expired-on-arrival');
  const context = await env.browser.newContext();
  const tabs = await openTabs(context, probeUrl(env.server.origin, { client: client.id, secret: client.secret }), 2);
  await expect.poll(() => leaderOf(tabs)).not.toBe(-1);
  const outcomes = await Promise.all(
    tabs.map((tab) =>
      inProbe(tab, (harness) =>
        harness.fullToken().then(
          (token) => ({ expiredFor: token.now - token.expiresAt }),
          (error: { code?: string }) => ({ error: error.code }),
        ),
      ),
    ),
  );

  // Every token that lives 1 s arrives 1.3 s after it was requested: there is no unexpired token to be had.
  for (const outcome of outcomes) {
    if ('expiredFor' in outcome) expect(outcome.expiredFor, 'ms the returned token had been expired').toBeLessThan(0);
    expect(outcome).toEqual({ error: 'token_expired' });
  }
  for (const tab of tabs) expect((await logOf(tab)).filter((entry) => entry.event === 'token')).toEqual([]);
  // The follower asked the leader, which failed once for both.
  expect(env.server.stats.tokenRequests).toBe(1);
  await context.close();
});
