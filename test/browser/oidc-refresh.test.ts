import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';

/**
 * The ID token of a refresh, in real Chromium against the real oidc-provider (which sends one with every refresh of
 * an `openid` grant): claims changed at the provider reach every tab's `session.user` with the next refresh, and the
 * newest ID token is the `id_token_hint` of the sign-out; an ID token of another `sub` signs every tab out.
 */
const env = useOidcApp();

type Harness = { app: { session: { signedIn: boolean; user?: { name?: string } } } };

const userName = (page: Page): Promise<string | undefined> => inApp(page, (app) => app.state().user?.name);

function payload(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

it('a name changed at the provider reaches every tab with the next refresh; the sign-out sends the newest ID token', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 3);
  expect(await userSignsIn(tabs[0]!, 'ada.lovelace')).toBe('ok');
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => (globalThis as unknown as Harness).app.session.signedIn)));
  for (const tab of tabs) expect(await userName(tab)).toBe('Ada Lovelace');

  env.op.setAccountClaims('ada.lovelace', { name: 'Ada King' });
  // 4 s tokens are refreshed ≈ 2 s before expiry: one refresh, by the leader, brings the new ID token.
  await Promise.all(
    tabs.map((tab) => tab.waitForFunction(() => (globalThis as unknown as Harness).app.session.user?.name === 'Ada King', undefined, { timeout: 15_000 })),
  );
  for (const tab of tabs) {
    expect(await inApp(tab, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'ada.lovelace', name: 'Ada King' } });
    expect((await inApp(tab, (app) => app.log)).filter((entry) => entry.event === 'user-updated').map((entry) => entry.detail)).toContain('Ada King');
  }
  // A tab opened now reads the updated record.
  const [late] = await openApps(context, env.appUrl, 1);
  expect(await userName(late!)).toBe('Ada King');
  expect(env.op.counts).toMatchObject({ codeExchanges: 1, failedRefreshes: 0, reusedRefreshTokens: 0 });
  expect(env.op.counts.refreshRequests).toBeGreaterThanOrEqual(1);

  // The sign-out's id_token_hint is the refresh's ID token, not the sign-in's.
  const endSession = tabs[2]!.waitForRequest((request) => request.url().includes('id_token_hint='));
  void inApp(tabs[2]!, (app) => app.signOut(true)).catch(() => undefined);
  const hint = new URL((await endSession).url()).searchParams.get('id_token_hint')!;
  expect(payload(hint)).toMatchObject({ sub: 'ada.lovelace', name: 'Ada King' });
  await tabs[2]!.waitForSelector('#app-signed-out');
  expect(env.op.counts.endSessions).toBe(1);
  await context.close();
});

it('a refresh whose ID token is of another sub: every tab signed out (invalid_grant), its token never used, nobody shown as the other user', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 3);
  expect(await userSignsIn(tabs[0]!, 'ada.lovelace')).toBe('ok');
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => (globalThis as unknown as Harness).app.session.signedIn)));
  await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.sniff())));

  env.op.setAccountClaims('ada.lovelace', { sub: 'grace.hopper', name: 'Grace Hopper' });
  await Promise.all(
    tabs.map((tab) => tab.waitForFunction(() => !(globalThis as unknown as Harness).app.session.signedIn, undefined, { timeout: 15_000 })),
  );
  for (const tab of tabs) {
    expect(await inApp(tab, (app) => app.state().user)).toBeUndefined();
    expect(await inApp(tab, (app) => app.token())).toBe('error:login_required');
    expect((await inApp(tab, (app) => app.log)).some((entry) => entry.event === 'user-updated')).toBe(false);
    // The other user's claims were never told to any context.
    expect((await inApp(tab, (app) => app.sniffed())).join('\n')).not.toContain('grace.hopper');
  }
  expect((await inApp(tabs[0]!, (app) => app.log)).concat(await inApp(tabs[1]!, (app) => app.log), await inApp(tabs[2]!, (app) => app.log)).some(
    (entry) => entry.event === 'error' && entry.detail === 'invalid_grant',
  )).toBe(true);
  // A tab opened now is signed out too.
  const [late] = await openApps(context, env.appUrl, 1);
  expect(await inApp(late!, (app) => app.state().signedIn)).toBe(false);
  await context.close();
});
