import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { inApp, openApps, userSignsIn, type OidcApp } from './oidc-app.js';

/** A late answer: a 1 s token whose answer leaves 1.5 s after it was issued (expired on arrival, whatever the load). */
export const LATE = { ttl: 1, delay: 1_500 } as const;
/** A timely answer: a minute-long token, answered at once. */
export const TIMELY = { ttl: 60, delay: 0 } as const;

const signedIn = (): boolean => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn;

/** A forced refresh in `tab`: the token's remaining life when handed out, or the error's code. */
function forceRefresh(tab: Page): Promise<{ left: number } | { error: string }> {
  return inApp(tab, (app) =>
    app.session.getToken({ forceRefresh: true }).then(
      (token) => ({ left: token.expiresAt - Date.now() }),
      (error: unknown) => ({ error: String((error as { code?: unknown }).code) }),
    ),
  );
}

/**
 * Two tabs of `oidcSession` (DPoP when `env.config.dpop`) against oidc-provider's rotation with reuse detection,
 * while API calls run in both every 300 ms: one late refresh answer, then three in a row, then the leader's tab
 * closed. The rule: 0 reused refresh tokens, 0 revoked grants, no expired token handed out (no failed API call),
 * still signed in everywhere, and at most 3 token requests per refresh.
 */
export async function lateAnswersInTabs(env: OidcApp): Promise<void> {
  // Minute-long tokens (refreshed ahead of expiry after 30 s): only the test's refreshes happen meanwhile.
  env.op.accessTokenTtl = 60;
  const context = await env.browser.newContext();
  try {
    const tabs = await openApps(context, env.appUrl, 2);
    expect(await userSignsIn(tabs[0]!)).toBe('ok');
    await tabs[1]!.waitForFunction(signedIn);
    await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.startCalls(300))));
    const leaders = await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.state().leader)));
    // The follower asks the leader (the request and answer between tabs); the leader's tab is closed at the end.
    const leader = leaders.indexOf(true) === 1 ? 1 : 0;
    const follower = tabs[1 - leader]!;
    const grantLog = (): string => JSON.stringify(env.op.log.filter((entry) => entry.event.startsWith('grant')));
    const start = env.op.counts.refreshRequests;

    // One late answer: the leader asks again with its refresh token, once; the follower gets a live token.
    env.op.planTokenAnswers([LATE, TIMELY]);
    const first = await forceRefresh(follower);
    expect(first, grantLog()).toMatchObject({ left: expect.any(Number) });
    expect((first as { left: number }).left).toBeGreaterThan(0);
    expect(env.op.counts.refreshRequests - start).toBe(2);

    // Three in a row: token_expired, nothing handed out, the grant kept (its newest refresh token in IndexedDB).
    env.op.planTokenAnswers([LATE, LATE, LATE]);
    expect(await forceRefresh(follower)).toEqual({ error: 'token_expired' });
    expect(env.op.counts.refreshRequests - start).toBe(5);
    expect(env.op.counts, grantLog()).toMatchObject({ reusedRefreshTokens: 0, revokedGrants: 0, failedRefreshes: 0 });

    // The leader's tab goes: the other one refreshes from the refresh token the late answer brought.
    const calls = await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.stopCalls())));
    await tabs[leader]!.close();
    const after = await forceRefresh(follower);
    expect(after, grantLog()).toMatchObject({ left: expect.any(Number) });
    expect(env.op.counts.refreshRequests - start).toBe(6);
    expect(await inApp(follower, (app) => app.callApi())).toMatchObject({ status: 200 });
    expect(await inApp(follower, (app) => app.state().signedIn)).toBe(true);
    expect(env.op.counts, grantLog()).toMatchObject({ reusedRefreshTokens: 0, revokedGrants: 0, failedRefreshes: 0 });
    // No API call failed: no expired (or revoked) token was handed out meanwhile.
    for (const call of calls) expect(call.failed, call.failures.join('\n')).toEqual([]);
    expect(calls.reduce((sum, call) => sum + call.ok, 0)).toBeGreaterThan(0);
  } finally {
    await context.close();
  }
}
