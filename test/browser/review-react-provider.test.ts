import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { fillLoginForm } from '../support/oidc-app.js';
import { fixtureReady, useOidcFixtureApp } from '../support/oidc-fixture-app.js';

/**
 * Review: `<StrictMode><SessionProvider session={() => oidcSession(…)}>` mounted and unmounted 30 times, signed out
 * and signed in (real provider, real Chromium): every session made is closed, and nothing stays behind (channels,
 * window listeners, Web Locks), and a remount does not cost a token request each time.
 */
const env = useOidcFixtureApp('test/browser/fixtures/review-react-provider.ts');

interface Measure {
  channels: number;
  listeners: Record<string, number>;
  locks: { held: number; pending: number };
  made: number;
  renders: number;
}
const measure = (page: Page): Promise<Measure> =>
  page.evaluate(() => (globalThis as unknown as { app: { measure(): Promise<Measure> } }).app.measure());
const cycle = (page: Page, count: number, until: string): Promise<void> =>
  page.evaluate(([n, state]) => (globalThis as unknown as { app: { cycle(n: number, s: string): Promise<void> } }).app.cycle(n, state), [count, until] as const);

it('30 StrictMode mounts and unmounts of a provider that makes its session leave nothing behind', { timeout: 120_000 }, async () => {
  const context = await env.browser.newContext();
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(env.appUrl);
    expect(await fixtureReady(page)).toBe('ok');
    const before = await measure(page);
    await cycle(page, 30, 'session|out|-|-');
    const signedOut = await measure(page);
    expect(signedOut.made).toBe(60);
    expect({ channels: signedOut.channels, locks: signedOut.locks, listeners: signedOut.listeners }).toEqual({
      channels: before.channels,
      locks: before.locks,
      listeners: before.listeners,
    });

    await page.click('#sign-in');
    await fillLoginForm(page, 'ada.lovelace');
    await page.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code'));
    expect(await fixtureReady(page)).toBe('ok');
    const start = await measure(page);
    const refreshesBefore = env.op.counts.refreshRequests;
    await cycle(page, 30, 'session|in|ada.lovelace|token');
    const signedIn = await measure(page);
    // Measured: 0 refresh requests for 30 remounts (the token is shared, not fetched again); 6 renders of the status
    // per StrictMode mount signed in, 4 signed out.
    expect(env.op.counts.refreshRequests - refreshesBefore).toBe(0);
    expect(signedIn.renders).toBeLessThanOrEqual(30 * 6);
    expect({ channels: signedIn.channels, locks: signedIn.locks, listeners: signedIn.listeners }).toEqual({
      channels: start.channels,
      locks: start.locks,
      listeners: start.listeners,
    });
    expect(env.op.counts.reusedRefreshTokens).toBe(0);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
});
