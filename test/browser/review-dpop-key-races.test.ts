import type { Page } from 'playwright-core';
import { decodeProtectedHeader, calculateJwkThumbprint, type JWK } from 'jose';
import { expect, it } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp, userSignsIn, waitForApp } from '../support/oidc-app.js';

/**
 * Review of issue 25 (DPoP): the origin's one key against sign-ins that overlap. The key is "rotated only with the
 * sign-in" and every context signs with the credential's current key; the token every context shares must be bound
 * to that same key, whatever the order in which two sign-ins (two tabs, or a re-sign-in) complete.
 */
const DPOP = true;
const env = useOidcApp({ dpop: DPOP });

const signedIn = (page: Page): Promise<unknown> =>
  page.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);

/** The user signs in in `page` (prompt=login when asked), but the trip back is held: the callback URL, unused. */
async function callbackUrl(page: Page, anotherUser: boolean): Promise<string> {
  env.config = { ...env.config, dpop: DPOP, holdCallbacks: true };
  if (anotherUser) void inApp(page, (app) => app.signInCode({ authorizationParams: { prompt: 'login' } })).catch(() => undefined);
  else await page.click('#sign-in');
  await fillLoginForm(page, 'ada.lovelace');
  await page.waitForURL((url) => url.pathname === '/app.html' && url.searchParams.has('code'));
  env.config = { ...env.config, holdCallbacks: false };
  return page.url();
}

/** The key (jkt) of the proof the page signs now, and whether the API accepts the page's token with it. */
async function probe(page: Page): Promise<{ jkt: string; call: unknown }> {
  const proof = await inApp(page, (app) => app.session.dpopProof({ method: 'GET', url: 'https://api.example/x', accessToken: 'x' }));
  const jkt = await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK);
  return { jkt, call: await inApp(page, (app) => app.callApi()) };
}

it('two tabs complete their sign-ins at once: the token every tab shares is bound to the key every tab signs with', async () => {
  env.config = { ...env.config, dpop: DPOP };
  const context = await env.browser.newContext();
  const [a, b, c] = await openApps(context, env.appUrl, 3);
  const urlA = await callbackUrl(a!, false);
  const urlB = await callbackUrl(b!, true);
  // Both code exchanges answered at the same moment.
  env.op.tokenLatency = 300;
  await Promise.all([a!.goto(urlA), b!.goto(urlB)]);
  // One of them may lose (aborted); at least one completes, and every tab is then signed in.
  const outcomes = [await waitForApp(a!), await waitForApp(b!)];
  expect(outcomes).toContain('ok');
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const states = await Promise.all([a!, b!, c!].map((tab) => inApp(tab, (app) => app.state().signedIn)));
  expect(states).toEqual([true, true, true]);
  env.op.tokenLatency = 0;
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const tab of [a!, b!, c!]) expect(await probe(tab)).toMatchObject({ call: { status: 200 } });
  // And the refresh token too (bound to the key of its sign-in).
  expect(await inApp(c!, (app) => app.session.getToken({ forceRefresh: true }).then(() => 'ok', (error: { code: string }) => error.code))).toBe('ok');
  expect(env.op.counts, JSON.stringify(env.op.log)).toMatchObject({ codeExchanges: 2, failedRefreshes: 0, failedApiCalls: 0 });
  await context.close();
}, 60_000);


/** The records of the DPoP key store (runs in the page): their ids and jkt. */
function keyIds(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const opening = indexedDB.open('shared-session-dpop-v1');
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
      const all = opening.result.transaction('keys').objectStore('keys').getAllKeys();
      all.onsuccess = () => {
        opening.result.close();
        resolve(all.result.map(String));
      };
    };
  });
}

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

it('a dead refresh token (invalid_grant) signs every tab out, and the DPoP key goes with the sign-in, as at signOut/clear', async () => {
  env.config = { ...env.config, dpop: true };
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 2);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await Promise.all(tabs.map((tab) => signedIn(tab)));
  expect(await tabs[1]!.evaluate(keyIds)).toEqual([expect.stringMatching(/^key:/)]);
  // The grant is revoked behind the app's back (an admin, a password change).
  const refreshToken = await tabs[1]!.evaluate(storedRefreshToken);
  const revoked = await fetch(`${env.op.issuer}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'web', token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
  });
  expect(revoked.status).toBe(200);
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => !(globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn, undefined, { timeout: 10_000 })));
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(env.op.counts.failedRefreshes).toBe(1);
  // Observed before the fix: the key record stayed, and every tab still signed proofs with the dead sign-in's key.
  expect(await tabs[1]!.evaluate(keyIds)).toEqual([]);
  const proof = await inApp(tabs[1]!, (app) => app.session.dpopProof({ method: 'GET', url: 'https://api.example/x', accessToken: 'x' }).then(() => 'signed', (error: { code: string }) => error.code));
  expect(proof).toBe('login_required');
  // The next sign-in binds a new key (and works).
  expect(await userSignsIn(tabs[0]!, 'ada.lovelace', { anotherUser: true })).toBe('ok');
  expect(await inApp(tabs[0]!, (app) => app.callApi())).toMatchObject({ status: 200 });
  await context.close();
}, 60_000);
