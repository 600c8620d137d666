import type { Page } from 'playwright-core';
import { expect, it, onTestFinished } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp, userSignsIn, waitForApp } from '../support/oidc-app.js';
import { startOpenIdProvider, type OpenIdProviderOptions } from '../support/openid-provider.js';

/**
 * Every way a callback can go wrong, in real Chromium against the real provider: each ends in a typed error and
 * never in a second code exchange.
 */
const env = useOidcApp();

/** The user signs in in `page`, but the browser's trip back to the app is stopped: the callback URL, unused. */
async function callbackUrl(page: Page): Promise<string> {
  env.config = { ...env.config, holdCallbacks: true };
  await page.click('#sign-in');
  await fillLoginForm(page, 'ada.lovelace');
  await page.waitForURL((url) => url.pathname === '/app.html' && url.searchParams.has('code'));
  env.config = { ...env.config, holdCallbacks: false };
  return page.url();
}

const signedIn = (page: Page): Promise<unknown> =>
  page.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);

it('the URL is cleaned after the callback; a reload, and the same callback again, never exchange the code twice', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  const url = await callbackUrl(page!);
  await page!.goto(url);
  expect(await waitForApp(page!)).toBe('ok');
  expect(page!.url()).toBe(env.appUrl);
  await page!.reload();
  expect(await waitForApp(page!)).toBe('ok');
  expect(await inApp(page!, (app) => app.state().signedIn)).toBe(true);
  // The same callback URL again (the back button, a bookmark): its transaction was read once.
  await page!.goto(url);
  expect(await waitForApp(page!)).toBe('invalid_state');
  expect(page!.url()).toBe(env.appUrl);
  // Still signed in from before: a stale callback does not sign anyone out.
  expect(await inApp(page!, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'ada.lovelace' } });
  expect(env.op.counts).toMatchObject({ codeExchanges: 1, failedCodeExchanges: 0 });
  await context.close();
});

it('one callback opened in two tabs at once: exactly one completes it, the other gets invalid_state, 1 code exchange', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  const url = await callbackUrl(page!);
  const tabs = await Promise.all([context.newPage(), context.newPage()]);
  await Promise.all(tabs.map((tab) => tab.goto(url)));
  const outcomes = await Promise.all(tabs.map((tab) => waitForApp(tab)));
  expect(outcomes.sort()).toEqual(['invalid_state', 'ok']);
  // The one that lost is signed in all the same, by the other's broadcast.
  await Promise.all(tabs.map((tab) => signedIn(tab)));
  expect(env.op.counts).toMatchObject({ codeExchanges: 1, failedCodeExchanges: 0 });
  await context.close();
});

it('a callback with a state of no transaction of this browser (another transaction, a forged link) is invalid_state, nothing sent', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  // A transaction under way in this browser, with its own state…
  const own = await callbackUrl(page!);
  // …and a callback with another one (a code from someone else's sign-in).
  const forged = new URL(own);
  forged.searchParams.set('state', 'not-a-transaction-of-this-browser');
  await page!.goto(forged.href);
  expect(await waitForApp(page!)).toBe('invalid_state');
  expect(new URL(page!.url()).search).toBe('');
  expect(await inApp(page!, (app) => app.state().signedIn)).toBe(false);
  expect(env.op.counts).toMatchObject({ codeExchanges: 0, failedCodeExchanges: 0 });
  // The real one still completes.
  await page!.goto(own);
  expect(await waitForApp(page!)).toBe('ok');
  expect(env.op.counts.codeExchanges).toBe(1);
  await context.close();
});

it('the user cancels at the provider: back with access_denied, typed, signed out, the URL cleaned', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  await page!.click('#sign-in');
  await page!.waitForSelector('#sign-in-deny');
  await page!.click('#sign-in-deny');
  await page!.waitForURL((url) => url.pathname === '/app.html');
  expect(await waitForApp(page!)).toBe('access_denied');
  expect(page!.url()).toBe(env.appUrl);
  expect(await inApp(page!, (app) => app.state().signedIn)).toBe(false);
  expect(env.op.counts).toMatchObject({ codeExchanges: 0, authorizationErrors: 1 });
  await context.close();
});

it('the return path: same-origin only, restored after the callback', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  expect(await inApp(page!, (app) => app.signInCode({ returnTo: 'https://elsewhere.example/' }))).toBe('invalid_options');
  expect(env.op.counts.authorizations).toBe(0);
  // A sign-in from a deep link comes back to it.
  await page!.goto(`${env.appUrl}?view=map#layer=ndvi`);
  await waitForApp(page!);
  expect(await userSignsIn(page!)).toBe('ok');
  expect(page!.url()).toBe(`${env.appUrl}?view=map#layer=ndvi`);
  await context.close();
});

it('a refresh token the provider no longer accepts (invalid_grant): every tab signed out, one failed refresh, no retry storm', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 3);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await Promise.all(tabs.map((tab) => signedIn(tab)));
  // Revoke the grant at the provider behind the app's back (an admin, a password change): read the refresh token
  // where the session keeps it, and revoke it.
  const refreshToken = await tabs[1]!.evaluate(storedRefreshToken);
  const revoked = await fetch(`${env.op.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'web', token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
  });
  expect(revoked.status).toBe(200);
  // The 4 s token is refreshed ~2 s before it expires: that refresh fails, and every tab is signed out.
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => !(globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn, undefined, { timeout: 10_000 })));
  for (const tab of tabs) expect(await inApp(tab, (app) => app.token())).toBe('error:login_required');
  const after = env.op.counts.refreshRequests;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(env.op.counts, JSON.stringify(env.op.log)).toMatchObject({ failedRefreshes: 1, reusedRefreshTokens: 0, refreshRequests: after });
  expect(after).toBe(1);
  // A tab opened now is signed out too.
  const [late] = await openApps(context, env.appUrl, 1);
  expect(await inApp(late!, (app) => app.state().signedIn)).toBe(false);
  await context.close();
});

it('without IndexedDB: signIn rejects with unsupported_context and the page stays; getToken is login_required', async () => {
  env.config = { ...env.config, noidb: true };
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  expect(await inApp(page!, (app) => app.signInCode({}))).toBe('unsupported_context');
  expect(page!.url()).toBe(env.appUrl);
  expect(await inApp(page!, (app) => app.token())).toBe('error:login_required');
  expect(env.op.counts.authorizations).toBe(0);
  await context.close();
});

/** Another provider for the app's client, configured to misbehave; the app is pointed at it for this test. */
async function useAnotherProvider(options: Partial<OpenIdProviderOptions>): Promise<Awaited<ReturnType<typeof startOpenIdProvider>>> {
  const provider = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [env.appUrl] }], accessTokenTtl: 4, ...options });
  onTestFinished(() => provider.close());
  env.config = { ...env.config, issuer: provider.issuer, apiUrl: provider.apiUrl };
  return provider;
}

it('a provider that does not advertise PKCE S256: signIn rejects with unsupported_provider before the page leaves', async () => {
  const noPkce = await useAnotherProvider({ advertisePkce: false });
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  expect(await inApp(page!, (app) => app.signInCode({}))).toBe('unsupported_provider');
  expect(page!.url()).toBe(env.appUrl);
  expect(noPkce.counts.authorizations).toBe(0);
  await context.close();
});

it('RFC 9207: a callback whose iss is another issuer (a mix-up) is invalid_response, and its code is never exchanged', async () => {
  const mixUp = await useAnotherProvider({ authorizationResponseIss: 'http://127.0.0.1:1' });
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  await page!.click('#sign-in');
  await fillLoginForm(page!, 'ada.lovelace');
  await page!.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code'));
  expect(await waitForApp(page!)).toBe('invalid_response');
  expect(await inApp(page!, (app) => app.state().signedIn)).toBe(false);
  expect(mixUp.counts).toMatchObject({ authorizations: 1, codeExchanges: 0, failedCodeExchanges: 0 });
  await context.close();
});

it('a provider without revocation: signOut signs every tab out all the same, and nothing is sent for it', async () => {
  const noRevocation = await useAnotherProvider({ revocation: false });
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 2);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await signedIn(tabs[1]!);
  expect(await inApp(tabs[1]!, (app) => app.signOut(false))).toBe('ok');
  await tabs[0]!.waitForFunction(() => !(globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  expect(await inApp(tabs[0]!, (app) => app.token())).toBe('error:login_required');
  expect(noRevocation.counts).toMatchObject({ revocations: 0, reusedRefreshTokens: 0 });
  // No error for it: the provider offers no revocation, so there is nothing to report.
  expect((await inApp(tabs[1]!, (app) => app.log)).filter((entry) => entry.event === 'error')).toEqual([]);
  await context.close();
});

it('two sessions of two credentials (two scopes) on one redirect page: each consumes only its own callback; a foreign state is invalid_state for both', async () => {
  env.config = { ...env.config, secondScope: 'openid offline_access profile' };
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  const both = () =>
    inApp(page!, async (app) => {
      const [firstReady, secondReady] = [await app.ready, await app.second!.ready];
      return { first: app.state(), firstReady, second: app.second!.state(), secondReady, log: app.log };
    });
  expect(await both()).toMatchObject({ first: { signedIn: false }, second: { signedIn: false } });

  // The second session signs in: the first one, which starts first on the page, must leave its callback alone.
  void inApp(page!, (app) => app.second!.signIn()).catch(() => undefined);
  await fillLoginForm(page!, 'ada.lovelace');
  await page!.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code') && !url.searchParams.has('state'));
  await waitForApp(page!);
  const afterSecond = await both();
  expect(afterSecond, JSON.stringify(afterSecond.log)).toMatchObject({ firstReady: 'ok', first: { signedIn: false }, secondReady: 'ok', second: { signedIn: true, user: { sub: 'ada.lovelace' } } });
  expect(env.op.counts.codeExchanges).toBe(1);

  // Then the first one (the provider's session is still on: no form), and the second stays signed in.
  const back = page!.waitForRequest((request) => request.url().startsWith(env.appUrl) && new URL(request.url()).searchParams.has('code'));
  await page!.click('#sign-in');
  await back;
  await page!.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code') && !url.searchParams.has('state'));
  await waitForApp(page!);
  expect(await both()).toMatchObject({ firstReady: 'ok', first: { signedIn: true }, secondReady: 'ok', second: { signedIn: true } });
  const tokens = await inApp(page!, async (app) => [await app.token(), await app.second!.token()]);
  expect(new Set(tokens).size).toBe(2);
  for (const token of tokens) expect((await env.op.introspect(token)).active).toBe(true);
  expect(env.op.counts).toMatchObject({ codeExchanges: 2, failedCodeExchanges: 0 });

  // A state of no transaction of this browser: no session on the page may consume it; each says invalid_state.
  await page!.goto(`${env.appUrl}?code=forged&state=not-a-transaction-of-this-browser`);
  await waitForApp(page!);
  expect(await both()).toMatchObject({ firstReady: 'invalid_state', first: { signedIn: true }, secondReady: 'invalid_state', second: { signedIn: true } });
  expect(new URL(page!.url()).search).toBe('');
  expect(env.op.counts).toMatchObject({ codeExchanges: 2, failedCodeExchanges: 0 });
  await context.close();
});

it('a replayed callback of the second session on a page with two: invalid_state for both (no transaction has its state), never a second code exchange', async () => {
  env.config = { ...env.config, secondScope: 'openid offline_access profile' };
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  env.config = { ...env.config, holdCallbacks: true };
  void inApp(page!, (app) => app.second!.signIn()).catch(() => undefined);
  await fillLoginForm(page!, 'ada.lovelace');
  await page!.waitForURL((url) => url.pathname === '/app.html' && url.searchParams.has('code'));
  env.config = { ...env.config, holdCallbacks: false };
  const url = page!.url();
  await page!.goto(url);
  expect(await waitForApp(page!)).toBe('ok');
  expect(await inApp(page!, (app) => app.second!.ready)).toBe('ok');
  // The same callback again: its transaction is gone, so neither session may consume it; each stays as it was.
  await page!.goto(url);
  await waitForApp(page!);
  expect(await inApp(page!, async (app) => [await app.ready, await app.second!.ready, app.state().signedIn, app.second!.state().signedIn])).toEqual([
    'invalid_state',
    'invalid_state',
    false,
    true,
  ]);
  expect(new URL(page!.url()).search).toBe('');
  expect(env.op.counts).toMatchObject({ codeExchanges: 1, failedCodeExchanges: 0 });
  await context.close();
});

/** The refresh token in browser sharing's IndexedDB record (runs in the page). */
function storedRefreshToken(): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('shared-session-v2');
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const all = request.result.transaction('tokens').objectStore('tokens').getAll();
      all.onsuccess = () => {
        request.result.close();
        const record = (all.result as Array<{ refreshToken?: string }>).find((entry) => entry.refreshToken !== undefined);
        if (record?.refreshToken === undefined) reject(new Error('no refresh token stored'));
        else resolve(record.refreshToken);
      };
    };
  });
}
