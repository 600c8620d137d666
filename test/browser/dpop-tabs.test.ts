import * as oauth from 'oauth4webapi';
import { calculateJwkThumbprint, decodeProtectedHeader, SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createHash, randomUUID } from 'node:crypto';
import type { BrowserContext, Page } from 'playwright-core';
import { expect, it } from 'vitest';
import type { OidcWorkerAnswer } from './fixtures/oidc-worker.js';
import { judgeCalls, jtiOf, type ContextCall } from '../support/dpop-calls.js';
import { inApp, openApps, useOidcApp, userSignsIn } from '../support/oidc-app.js';
import { holdRequestLock } from '../support/request-lock.js';

/**
 * Issue 25's tab scenario and theft in real Chromium: oidc-provider with DPoP required and nonces at every use, the
 * strict API of test/support/dpop-api.ts. Several tabs and a dedicated worker sign with the one key of the origin;
 * the leader is killed midway; a stolen token or refresh token is refused without the key.
 */
const env = useOidcApp({ dpop: true });
const signedIn = (): boolean => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn;

async function startWorker(page: Page): Promise<(command: string) => Promise<OidcWorkerAnswer>> {
  const { issuer, clientId, scope, apiUrl } = env.config;
  const url = `/oidc-worker.js?${new URLSearchParams({ issuer, clientId, scope, apiUrl, dpop: '' })}`;
  await page.evaluate((scriptUrl) => {
    (globalThis as unknown as { dpopWorker: Worker }).dpopWorker = new Worker(scriptUrl, { type: 'module' });
  }, url);
  return (command) =>
    page.evaluate(
      (message) =>
        new Promise<OidcWorkerAnswer>((resolve) => {
          const worker = (globalThis as unknown as { dpopWorker: Worker }).dpopWorker;
          worker.addEventListener('message', (event: MessageEvent<OidcWorkerAnswer>) => resolve(event.data), { once: true });
          worker.postMessage(message);
        }),
      command,
    );
}

async function jktOf(proof: string): Promise<string> {
  return calculateJwkThumbprint(decodeProtectedHeader(proof).jwk as JWK);
}

/** A worker that does not answer within this is a failure of the run, not a hang. */
const ANSWER_WITHIN = 20_000;

/**
 * The browser context of one test, closed when the test ends however it ends: the tabs of a failed test must not
 * outlive it (they would go on calling, into the next test's counts and its key count).
 */
async function withContext<T>(test: (context: BrowserContext) => Promise<T>): Promise<T> {
  const context = await env.browser.newContext();
  try {
    return await test(context);
  } finally {
    await context.close();
  }
}

/*
 * "0 failed calls" is judged call by call, as in dpop-tabs-leader-killed.test.ts (test/support/dpop-calls.ts): a call
 * refused because its token, alive when the session handed it out by the provider's own `exp`, expired while a loaded
 * machine held the call in flight is the machine's delay; a token handed out expired, a token the provider does not
 * know, any other refusal, a call the API never saw, or an error fails the test. The API's raw 401 count cannot tell
 * these apart: at load 14, with calls started every 300 ms whether or not the previous one had answered, two calls
 * piled up behind the browser's six connections to the provider's host were refused `unknown-token` with 2.4 s left
 * by the client's clock (up to 1 s less by the provider's whole-second `exp`). Calls now go one at a time per tab.
 */
it('4 tabs and a worker, 24 s of 4 s DPoP tokens with the leader killed midway: 1 code exchange, one key, 0 reused refresh tokens, 0 revoked grants, 0 failed calls, 0 replayed jti, 1 nonce challenge for all', async () => {
  env.config = { ...env.config, dpop: true };
  await withContext(async (context) => {
  const tabs = await openApps(context, env.appUrl, 4);
  // A page of the origin without a session, never killed: it holds the request lock for the kill (below).
  const lockPage = await context.newPage();
  await lockPage.goto(`${env.origin}/blank.html`);
  const worker = await startWorker(tabs[1]!);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await Promise.all(tabs.map((tab) => tab.waitForFunction(signedIn)));
  await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.startCalls(300, undefined, true))));
  const workerCalls: OidcWorkerAnswer[] = [];
  const started = Date.now();
  let killedAt = Infinity;
  const workerLoop = (async () => {
    while (Date.now() - started < 22_000) {
      const unanswered = new Promise<OidcWorkerAnswer>((resolve) => setTimeout(resolve, ANSWER_WITHIN, { signedIn: false, error: `no answer within ${ANSWER_WITHIN} ms` }));
      workerCalls.push(await Promise.race([worker('token'), unanswered]));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  // Between two rotations: a leader killed while its refresh is at the provider takes the rotated refresh token with
  // it, and every context is signed out by design (lost-rotation.test.ts); this test proves the takeover otherwise.
  const betweenRotations = await holdRequestLock(lockPage, ANSWER_WITHIN);
  const leaders = await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.state().leader)));
  const leader = leaders.indexOf(true);
  // The worker may lead instead of a tab; then the tab killed is one that does not lead, and the worker goes on.
  const killed = leader === -1 || leader === 1 ? 3 : leader;
  killedAt = Date.now();
  await tabs[killed]!.goto('chrome://kill').catch(() => undefined);
  await betweenRotations.release();
  const survivors = tabs.filter((_tab, index) => index !== killed);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 24_000 - (Date.now() - started))));
  await workerLoop;
  const results = await Promise.all(survivors.map((tab) => inApp(tab, (app) => app.stopCalls())));
  const timeline = JSON.stringify({ killed, log: env.op.log.filter((entry) => !entry.event.startsWith('api.call')) });
  const calls: ContextCall[] = [
    ...results.flatMap((result, index) => result.records.map((record) => ({ context: `tab ${tabs.indexOf(survivors[index]!)}`, ...record }))),
    ...workerCalls.map((call) => ({ context: 'worker', handedOutAt: call.handedOutAt, jti: call.proof === undefined ? undefined : jtiOf(call.proof), status: call.status, error: call.error })),
  ];
  const judged = judgeCalls(calls, env.op.apiRequests);
  // Never an expired token handed out; no call refused but by the machine's delay (with the fixture's notes of when
  // each refused call happened, how long it took and how long its token had left by the client's clock).
  expect(judged.failures, `${results.flatMap((result) => result.failures).join('; ')} ${timeline}`).toEqual([]);
  // Every surviving tab and the worker were served after the kill (a call handed out after it, accepted).
  for (const result of results) expect(result.records.some((record) => record.status === 200 && record.handedOutAt! > killedAt)).toBe(true);
  for (const call of workerCalls) expect(call).toMatchObject({ signedIn: true, proof: expect.any(String) });
  expect(workerCalls.some((call) => call.status === 200 && call.handedOutAt! > killedAt)).toBe(true);
  // One key: every proof of the worker (before and after the kill) and of every surviving tab.
  const jkts = new Set(await Promise.all(workerCalls.map((call) => jktOf(call.proof!))));
  for (const tab of survivors) {
    jkts.add(await jktOf(await inApp(tab, (app) => app.session.dpopProof({ method: 'GET', url: (globalThis as unknown as { oidcConfig: { apiUrl: string } }).oidcConfig.apiUrl }))));
  }
  expect(jkts.size).toBe(1);
  const { counts } = env.op;
  const log = JSON.stringify(env.op.log.filter((entry) => !entry.event.startsWith('api.call')));
  expect(counts.refreshRequests, log).toBeGreaterThanOrEqual(6);
  expect(counts, log).toMatchObject({
    codeExchanges: 1,
    reusedRefreshTokens: 0,
    revokedGrants: 0,
    failedRefreshes: 0,
    // Every 401 of the API is one of the calls judged "expired in flight" above: none else.
    failedApiCalls: judged.expiredInFlight.length,
    replayedProofs: 0,
    // The code exchange met the provider's nonce requirement once; every later request, in whichever context
    // leads, used the nonce kept in IndexedDB (and the newer ones the provider sent along).
    dpopNonceChallenges: 1,
  });
  });
}, 90_000);

it('theft: the access and refresh tokens read out of IndexedDB are refused from Node without the key and with another key; the session goes on', async () => {
  env.config = { ...env.config, dpop: true };
  await withContext(async (context) => {
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!)).toBe('ok');
  // What injected script can read: the session's record in IndexedDB.
  const stolen = await tab!.evaluate(
    () =>
      new Promise<{ accessToken: string; refreshToken: string }>((resolve, reject) => {
        const opening = indexedDB.open('shared-session-v2');
        opening.onerror = () => reject(opening.error);
        opening.onsuccess = () => {
          const all = opening.result.transaction('tokens').objectStore('tokens').getAll();
          all.onsuccess = () => {
            const record = all.result[0] as { token: { accessToken: string }; refreshToken: string };
            resolve({ accessToken: record.token.accessToken, refreshToken: record.refreshToken });
          };
        };
      }),
  );
  expect(stolen.refreshToken).toEqual(expect.any(String));
  const apiUrl = env.op.apiUrl;

  // The API: as a Bearer token, as DPoP without a proof, and with a proof of another key.
  expect((await fetch(apiUrl, { headers: { authorization: `Bearer ${stolen.accessToken}` } })).status).toBe(401);
  expect((await fetch(apiUrl, { headers: { authorization: `DPoP ${stolen.accessToken}` } })).status).toBe(401);
  const other = await generateKeyPair('ES256');
  const otherProof = await new SignJWT({ htm: 'GET', htu: apiUrl, jti: randomUUID(), ath: createHash('sha256').update(stolen.accessToken).digest('base64url') })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(other.publicKey) })
    .setIssuedAt()
    .sign(other.privateKey);
  expect((await fetch(apiUrl, { headers: { authorization: `DPoP ${stolen.accessToken}`, dpop: otherProof } })).status).toBe(401);
  expect(env.op.log.filter((entry) => entry.event === 'api.dpop-refused').map((entry) => entry.detail)).toEqual(['no-dpop-scheme', 'no-proof', 'wrong-key']);

  // The provider: the refresh token without a proof, and with a proof of another key (its nonce challenge answered).
  const issuer = new URL(env.op.issuer);
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { [oauth.allowInsecureRequests]: true }));
  const client = { client_id: env.config.clientId };
  const insecure = { [oauth.allowInsecureRequests]: true };
  const withoutKey = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), stolen.refreshToken, insecure);
  expect(withoutKey.status).toBe(400);
  expect(await withoutKey.json()).toMatchObject({ error: 'invalid_grant' });
  const otherKeys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const DPoP = oauth.DPoP({}, otherKeys);
  let withOtherKey = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), stolen.refreshToken, { ...insecure, DPoP });
  if (withOtherKey.status === 400 && ((await withOtherKey.clone().json()) as { error?: string }).error === 'use_dpop_nonce') {
    withOtherKey = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), stolen.refreshToken, { ...insecure, DPoP });
  }
  expect(withOtherKey.status).toBe(400);
  expect(await withOtherKey.json()).toMatchObject({ error: 'invalid_grant' });

  // The owner's session is untouched: it refreshes with its key and its calls are accepted.
  const failedApiCalls = env.op.counts.failedApiCalls;
  await inApp(tab!, (app) => app.session.getToken({ forceRefresh: true }));
  expect(await inApp(tab!, (app) => app.callApi())).toMatchObject({ status: 200 });
  expect(env.op.counts).toMatchObject({ codeExchanges: 1, revokedGrants: 0, reusedRefreshTokens: 0, failedApiCalls });
  });
}, 60_000);

/** What the attacker's own browser does with stolen tokens (runs in a page of a fresh profile): proofs of its own key. */
async function replayInFreshProfile(arg: { accessToken: string; refreshToken: string; apiUrl: string; tokenUrl: string; clientId: string }) {
  const base64url = (bytes: ArrayBuffer | Uint8Array): string =>
    btoa(String.fromCharCode(...new Uint8Array(bytes)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const encode = (value: unknown): string => base64url(new TextEncoder().encode(JSON.stringify(value)));
  // A key of this browser, made as the library makes its own: ES256, non-extractable.
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keys.publicKey);
  const proof = async (htm: string, htu: string, claims: Record<string, string>): Promise<string> => {
    const signed = `${encode({
      alg: 'ES256',
      typ: 'dpop+jwt',
      jwk: { kty, crv, x, y },
    })}.${encode({ htm, htu, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID(), ...claims })}`;
    return `${signed}.${base64url(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, new TextEncoder().encode(signed)))}`;
  };
  const ath = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(arg.accessToken)));
  const api = async (headers: Record<string, string>): Promise<number> => (await fetch(arg.apiUrl, { headers })).status;
  const refresh = async (withProof: boolean): Promise<{ status: number; error: string; challenged: boolean }> => {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: arg.refreshToken, client_id: arg.clientId });
    const send = async (nonce?: string) =>
      fetch(arg.tokenUrl, {
        method: 'POST',
        body,
        headers: withProof
          ? {
              dpop: await proof('POST', arg.tokenUrl, nonce === undefined ? {} : { nonce }),
            }
          : {},
      });
    let response = await send();
    let error = ((await response.clone().json()) as { error: string }).error;
    const challenged = error === 'use_dpop_nonce';
    // The provider's nonce challenge, answered as the library would: the attempt that counts is the second.
    if (challenged) {
      response = await send(response.headers.get('dpop-nonce')!);
      error = ((await response.clone().json()) as { error: string }).error;
    }
    return { status: response.status, error, challenged };
  };
  return {
    indexedDBDatabases: (await indexedDB.databases()).map((database) => database.name),
    apiWithOwnKey: await api({
      authorization: `DPoP ${arg.accessToken}`,
      dpop: await proof('GET', arg.apiUrl, { ath }),
    }),
    apiAsBearer: await api({ authorization: `Bearer ${arg.accessToken}` }),
    apiWithoutProof: await api({ authorization: `DPoP ${arg.accessToken}` }),
    refreshWithOwnKey: await refresh(true),
    refreshWithoutProof: await refresh(false),
  };
}

it('theft: the access and refresh tokens read out of IndexedDB are refused when replayed from a fresh browser profile with its own key, as Bearer and without a proof; the session goes on', async () => {
  env.config = { ...env.config, dpop: true };
  env.op.accessTokenTtl = 3_600;
  await withContext(async (context) => {
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!)).toBe('ok');
  const ownKey = [...env.op.dpopKeys.keys()];
  expect(ownKey).toHaveLength(1);
  // What injected script can read in the victim's browser: the session's record in IndexedDB.
  const stolen = await tab!.evaluate(
    () =>
      new Promise<{ accessToken: string; refreshToken: string }>((resolve, reject) => {
        const opening = indexedDB.open('shared-session-v2');
        opening.onerror = () => reject(opening.error);
        opening.onsuccess = () => {
          const all = opening.result.transaction('tokens').objectStore('tokens').getAll();
          all.onsuccess = () => {
            const record = all.result[0] as {
              token: { accessToken: string };
              refreshToken: string;
            };
            resolve({ accessToken: record.token.accessToken, refreshToken: record.refreshToken });
          };
        };
      }),
  );
  expect(stolen.refreshToken).toEqual(expect.any(String));
  const log = env.op.log.length;
  const counts = { ...env.op.counts };

  // The attacker's browser: a fresh profile (no storage shared with the victim's), on the app's origin so that the
  // provider's CORS lets it call the token endpoint as the app does.
  const outcome = await withContext(async (attacker) => {
    const page = await attacker.newPage();
    await page.goto(`${env.origin}/blank.html`);
    return page.evaluate(replayInFreshProfile, {
      ...stolen,
      apiUrl: env.op.apiUrl,
      tokenUrl: `${env.op.issuer}/token`,
      clientId: env.config.clientId,
    });
  });
  // Nothing of the victim's session is in that profile.
  expect(outcome.indexedDBDatabases).toEqual([]);
  expect(outcome).toMatchObject({
    apiWithOwnKey: 401,
    apiAsBearer: 401,
    apiWithoutProof: 401,
    refreshWithOwnKey: { status: 400, error: 'invalid_grant', challenged: true },
    refreshWithoutProof: { status: 400, error: 'invalid_grant' },
  });
  // Counted by the provider and the API: three refused calls (each for its reason), two refused refreshes.
  const since = env.op.log.slice(log);
  expect(since.filter((entry) => entry.event === 'api.dpop-refused').map((entry) => entry.detail)).toEqual(['wrong-key', 'no-dpop-scheme', 'no-proof']);
  expect(since.filter((entry) => entry.event === 'grant.error').map((entry) => entry.detail?.split(':')[0])).toEqual(['refresh_token', 'refresh_token']);
  expect(env.op.counts).toMatchObject({
    failedApiCalls: counts.failedApiCalls + 3,
    failedRefreshes: counts.failedRefreshes + 2,
    codeExchanges: 1,
    revokedGrants: 0,
    reusedRefreshTokens: 0,
  });
  expect(env.op.dpopKeys.size).toBe(2);

  // The owner's session is untouched: it refreshes with its key and its calls are accepted.
  await inApp(tab!, (app) => app.session.getToken({ forceRefresh: true }));
  expect(await inApp(tab!, (app) => app.callApi())).toMatchObject({ status: 200 });
  expect(env.op.counts).toMatchObject({
    codeExchanges: 1,
    revokedGrants: 0,
    reusedRefreshTokens: 0,
    failedApiCalls: counts.failedApiCalls + 3,
    failedRefreshes: counts.failedRefreshes + 2,
  });
  });
}, 60_000);
