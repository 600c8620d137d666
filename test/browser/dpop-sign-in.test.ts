import type { Page } from 'playwright-core';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import { expect, it } from 'vitest';
import type { OidcWorkerAnswer } from './fixtures/oidc-worker.js';
import { inApp, openApps, useOidcApp, userSignsIn, type AppConfig } from '../support/oidc-app.js';

/**
 * Issue 25 in real Chromium against oidc-provider with DPoP required (bound access and refresh tokens, nonces at
 * every use) and an API that validates proofs strictly (test/support/dpop-api.ts): `oidcSession({ dpop: true })`
 * binds the sign-in to ONE non-extractable key that every tab and worker of the origin signs with.
 */
const env = useOidcApp({ dpop: true });

function dpopConfig(): AppConfig {
  env.config = { ...env.config, dpop: true };
  return env.config;
}

function workerUrl(config: AppConfig): string {
  const query = new URLSearchParams({ issuer: config.issuer, clientId: config.clientId, scope: config.scope, apiUrl: config.apiUrl, dpop: '' });
  return `/oidc-worker.js?${query}`;
}

async function startWorker(page: Page, url: string): Promise<(command: string) => Promise<OidcWorkerAnswer>> {
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

/** The key a proof was signed with: the thumbprint of its header's `jwk`. */
async function jktOf(proof: string): Promise<string> {
  const { jwk } = decodeProtectedHeader(proof);
  return calculateJwkThumbprint(jwk as JWK);
}

/** A proof from the page's session for the API. */
function proofIn(page: Page): Promise<string> {
  return inApp(page, (app) => app.session.dpopProof({ method: 'GET', url: (globalThis as unknown as { oidcConfig: { apiUrl: string } }).oidcConfig.apiUrl }));
}

/** What the DPoP database holds, as the page can read it (runs in the page). */
async function readKeyRecords(): Promise<{ id: string; jkt: string; extractable: boolean; type: string; exported: string; json: string; fields: string[] }[]> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const opening = indexedDB.open('shared-session-dpop-v1');
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => resolve(opening.result);
  });
  const transaction = db.transaction('keys', 'readonly');
  const store = transaction.objectStore('keys');
  const [keys, values] = await Promise.all(
    [store.getAllKeys(), store.getAll()].map(
      (request) => new Promise<unknown[]>((resolve) => (request.onsuccess = () => resolve(request.result as unknown[]))),
    ),
  );
  db.close();
  return Promise.all(
    (values as { privateKey: CryptoKey; jkt: string }[]).map(async (record, index) => ({
      id: String(keys![index]),
      jkt: record.jkt,
      extractable: record.privateKey.extractable,
      type: record.privateKey.type,
      exported: await crypto.subtle.exportKey('jwk', record.privateKey).then(
        () => 'exported',
        (error: Error) => error.name,
      ),
      json: JSON.stringify(record),
      fields: Object.keys(record),
    })),
  );
}

it('one sign-in with DPoP: 1 code exchange bound by dpop_jkt, DPoP tokens, the same key in 4 tabs and a worker, every API call accepted', async () => {
  const config = dpopConfig();
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 4);
  const worker = await startWorker(tabs[1]!, workerUrl(config));
  const authorize = tabs[0]!.waitForRequest((request) => request.url().startsWith(`${env.op.issuer}/auth`));
  expect(await userSignsIn(tabs[0]!, 'ada.lovelace')).toBe('ok');
  const authorization = new URL((await authorize).url());
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn)));

  const token = await inApp(tabs[2]!, (app) => app.session.getToken().then((t) => ({ tokenType: t.tokenType, accessToken: t.accessToken })));
  expect(token.tokenType).toBe('DPoP');
  const calls = await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.callApi())));
  for (const call of calls) expect(call).toMatchObject({ status: 200, token: token.accessToken });
  const fromWorker = await worker('token');
  expect(fromWorker).toMatchObject({ signedIn: true, status: 200, token: token.accessToken });

  // fetchWithToken signs with the session's DPoP (the browser key) on its own.
  for (const tab of tabs) expect(await inApp(tab, (app) => app.fetchApi())).toBe(200);

  // One key everywhere: the thumbprint the code was bound to, in every tab's and the worker's proofs.
  const jkt = authorization.searchParams.get('dpop_jkt');
  expect(jkt).toMatch(/^[\w-]{43}$/);
  const proofs = [...(await Promise.all(tabs.map((tab) => proofIn(tab)))), fromWorker.proof!];
  for (const proof of proofs) expect(await jktOf(proof)).toBe(jkt);

  // A refresh (forced) is signed with it too, and the tokens stay accepted.
  await inApp(tabs[3]!, (app) => app.session.getToken({ forceRefresh: true }));
  for (const call of await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.callApi())))) expect(call).toMatchObject({ status: 200 });
  expect(env.op.counts, JSON.stringify(env.op.log)).toMatchObject({ codeExchanges: 1, failedCodeExchanges: 0, refreshRequests: 1, failedRefreshes: 0, failedApiCalls: 0, replayedProofs: 0 });

  // The key: one record, the CryptoKey objects only; the private key not extractable, exportKey refused.
  const records = await tabs[2]!.evaluate(readKeyRecords);
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ extractable: false, type: 'private', exported: 'InvalidAccessError' });
  expect(records[0]!.fields.sort()).toEqual(['createdAt', 'jkt', 'privateKey', 'publicKey', 'v']);
  // A CryptoKey serialises to {} in JSON: no key material in the record's readable fields.
  expect(records[0]!.json).not.toMatch(/"d"|"x"|"y"/);
  await context.close();
});

it('a session without dpop against a provider that requires it: the code exchange is refused (no proof), never signed in', async () => {
  const context = await env.browser.newContext();
  const [tab] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(tab!)).not.toBe('ok');
  expect(await inApp(tab!, (app) => app.state().signedIn)).toBe(false);
  expect(env.op.counts.codeExchanges).toBe(0);
  await context.close();
});

it('sign-out revokes the refresh token and deletes the key; the next sign-in binds its tokens to a new key', async () => {
  dpopConfig();
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 2);
  expect(await userSignsIn(tabs[0]!)).toBe('ok');
  await tabs[1]!.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  const [first] = await tabs[1]!.evaluate(readKeyRecords);
  expect(first!.id).toMatch(/^key:/);

  expect(await inApp(tabs[1]!, (app) => app.signOut(false))).toBe('ok');
  expect(env.op.counts.revocations).toBe(1);
  expect(await tabs[0]!.evaluate(readKeyRecords)).toEqual([]);
  expect(await inApp(tabs[0]!, (app) => app.session.dpopProof({ method: 'GET', url: 'https://api.example/x', accessToken: 'x' }).catch((error: { code: string }) => error.code))).toBe('login_required');

  // The provider still has the user's session: `prompt=login` shows the form again.
  expect(await userSignsIn(tabs[0]!, 'ada.lovelace', { anotherUser: true })).toBe('ok');
  await tabs[1]!.waitForFunction(() => (globalThis as unknown as { app: { session: { signedIn: boolean } } }).app.session.signedIn);
  const records = await tabs[1]!.evaluate(readKeyRecords);
  expect(records).toHaveLength(1);
  expect(records[0]!.jkt).not.toBe(first!.jkt);
  expect(await jktOf(await proofIn(tabs[1]!))).toBe(records[0]!.jkt);
  for (const call of await Promise.all(tabs.map((tab) => inApp(tab, (app) => app.callApi())))) expect(call).toMatchObject({ status: 200 });
  expect(env.op.counts).toMatchObject({ codeExchanges: 2, revokedGrants: 0, reusedRefreshTokens: 0, failedApiCalls: 0 });
  await context.close();
});

it('a key created under the Web Lock: 4 tabs asking at once for a credential without a key all get the same one', async () => {
  const context = await env.browser.newContext();
  const tabs = await openApps(context, env.appUrl, 4);
  for (let round = 0; round < 3; round++) {
    const credential = `race-${round}`;
    const jkts = await Promise.all(tabs.map((tab) => inApp(tab, (app, name) => app.loadOrCreateKey(name), credential)));
    expect(new Set(jkts).size).toBe(1);
  }
  const records = await tabs[0]!.evaluate(readKeyRecords);
  expect(records).toHaveLength(3);
  for (const record of records) expect(record).toMatchObject({ extractable: false, exported: 'InvalidAccessError' });
  await context.close();
});
