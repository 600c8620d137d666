import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp, userSignsIn, waitForApp } from '../support/oidc-app.js';

const env = useOidcApp();

it('sign-out reaches every tab at once, revokes the refresh token, and lands on the provider\'s logout, then back', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 5);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  const others = tabs.slice(1);
  await Promise.all(others.map((tab) => tab.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn)));
  for (const tab of tabs) expect(await inApp(tab, (app) => app.callApi())).toMatchObject({ status: 200 });

  // Tab 0 signs out; the time it starts is kept in its sessionStorage, which survives the trip to the provider.
  const signingOut = tabs[0]!;
  const landed = signingOut.waitForURL((url) => url.pathname === '/signed-out.html');
  void inApp(signingOut, (app) => {
    sessionStorage.setItem('signOutAt', String(app.now()));
    return app.signOut(true);
  }).catch(() => undefined); // the page goes away in the middle of it
  await landed;
  expect(await signingOut.locator('#app-signed-out').textContent()).toBe('Signed out');
  const signOutAt = Number(await signingOut.evaluate(() => sessionStorage.getItem('signOutAt')));

  // Every other tab dropped its token and is signed out, told by the broadcast.
  const delays: number[] = [];
  for (const tab of others) {
    const log = await inApp(tab, (app) => app.log);
    const signedOut = log.find((entry) => entry.event === 'signed-out');
    expect(signedOut, JSON.stringify(log)).toBeDefined();
    expect(log.some((entry) => entry.event === 'cleared' && entry.detail === 'remote')).toBe(true);
    delays.push(signedOut!.at - signOutAt);
    expect(await inApp(tab, (app) => app.state().signedIn)).toBe(false);
    expect(await inApp(tab, (app) => app.token())).toBe('error:login_required');
  }
  // The goal is ≤ 50 ms (2–10 ms measured with 5 tabs); a generous bound for a loaded 2-core machine.
  expect(Math.max(...delays), `ms after the sign-out: ${delays.map((delay) => delay.toFixed(1)).join(' ')}`).toBeLessThan(500);
  // The refresh token was revoked and the provider's session ended (RP-initiated logout with id_token_hint).
  expect(env.op.counts).toMatchObject({ revocations: 1, endSessions: 1, reusedRefreshTokens: 0, revokedGrants: 0 });

  // A tab opened later is signed out, with nothing from before: no token, no user.
  const [late] = await openApps(context, env.appUrl, 1);
  expect(await inApp(late!, (app) => app.state())).toMatchObject({ signedIn: false });
  expect(await inApp(late!, (app) => app.token())).toBe('error:login_required');

  // Signing in again (the provider's session ended: the login form again) signs every tab in, with a new grant.
  expect(await userSignsIn(late!, 'grace.hopper')).toBe('ok');
  await Promise.all(others.map((tab) => tab.waitForFunction(() => (globalThis as unknown as { app: { session: { user?: { sub: string } } } }).app.session.user?.sub === 'grace.hopper')));
  for (const tab of others) expect(await inApp(tab, (app) => app.callApi())).toMatchObject({ status: 200 });
  expect(env.op.counts).toMatchObject({ codeExchanges: 2, reusedRefreshTokens: 0, revokedGrants: 0 });
  await context.close();
});

it('signOut({ redirect: false }) signs out without leaving the page; the old refresh token never comes back', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 2);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await tabs[1]!.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  expect(await inApp(tabs[1]!, (app) => app.signOut(false))).toBe('ok');
  expect(new URL(tabs[1]!.url()).pathname).toBe('/app.html');
  expect(env.op.counts).toMatchObject({ revocations: 1, endSessions: 0 });
  await tabs[0]!.waitForFunction(() => !(globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  // Reloading finds nothing to restore.
  await tabs[0]!.reload();
  expect(await waitForApp(tabs[0]!)).toBe('ok');
  expect(await inApp(tabs[0]!, (app) => app.state().signedIn)).toBe(false);
  expect(env.op.counts.refreshRequests).toBe(0);
  await context.close();
});

it('signing in again while the leader is refreshing the old grant: the old grant\'s answer reaches nobody, every tab gets the new user', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 4);
  expect(await userSignsIn(tabs[0]!, 'ada.lovelace')).toBe('ok');
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn)));
  const leader = (await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.state().leader)))).indexOf(true);
  const signingIn = tabs[(leader + 1) % tabs.length]!;
  // Every token request now takes 6 s: the leader's refresh of ada's grant is still in flight when grace signs in
  // (1.5 s was not enough on a busy machine: grace's form took longer to reach her code exchange, and the old refresh
  // had ended by then). Tokens live a minute from here, so that an answer 6 s late is not an expired token.
  env.op.accessTokenTtl = 60;
  env.op.tokenLatency = 6_000;
  const oldRefresh = inApp(tabs[leader]!, (app) => app.session.getToken({ forceRefresh: true }).then((token) => token.accessToken, (error: { code?: string }) => `error:${error.code}`));
  expect(await userSignsIn(signingIn, 'grace.hopper', { anotherUser: true })).toBe('ok');
  // The old refresh ends without handing its token out (the sign-out before the code exchange aborted it).
  expect(await oldRefresh).toMatch(/^error:/);
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => (globalThis as unknown as { app: { session: { user?: { sub: string } } } }).app.session.user?.sub === 'grace.hopper')));
  env.op.tokenLatency = 0;
  for (const tab of tabs) {
    const token = await inApp(tab, (app) => app.token());
    expect(await env.op.introspect(token), tab === signingIn ? 'the tab that signed in' : 'another tab').toMatchObject({ active: true, sub: 'grace.hopper' });
  }
  // Refreshing goes on from grace's grant, once at a time.
  await inApp(tabs[leader]!, (app) => app.session.getToken({ forceRefresh: true }));
  expect(env.op.counts).toMatchObject({ codeExchanges: 2, reusedRefreshTokens: 0, revokedGrants: 0 });
  await context.close();
});
