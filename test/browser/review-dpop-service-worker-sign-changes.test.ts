import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, expect, it } from 'vitest';
import { pageLoading } from '../support/chromium.js';
import { inApp, openApps, SCOPE, useOidcApp, userSignsIn } from '../support/oidc-app.js';
import { loadImage, pageFetch } from '../support/page-requests.js';

/**
 * Review of issue 25 (the service worker): the worker's session signs every request it authorises with the origin's
 * key of the moment. After a sign-out in a tab, an `<img>` or fetch through the worker carries neither a token nor a
 * proof; after a new sign-in in a tab (a new key), the worker's requests carry the new token with a proof of the new
 * key (the API checks `cnf.jkt`): none refused as `wrong-key` or `unknown-token`.
 */
const env = useOidcApp({ dpop: true }, {}, {
  fixtures: { 'auth-sw': 'test/browser/fixtures/auth-sw.ts', 'sw-page': 'test/browser/fixtures/sw-page.ts' },
  files: () => ({ 'sw.html': pageLoading('sw-page.js') }),
});
let context: BrowserContext | undefined;
afterEach(async () => {
  await context?.close();
  context = undefined;
});

async function controlledPage(profile: BrowserContext): Promise<Page> {
  const query = new URLSearchParams({ issuer: env.op.issuer, client: env.config.clientId, scope: SCOPE, dpop: '', match: `${env.op.tilesUrl}/` });
  const page = await profile.newPage();
  await page.goto(`${env.origin}/sw.html?${query}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

const tileRequests = (from = 0) => env.op.apiRequests.slice(from).filter((request) => request.path.startsWith('/tiles/'));

it('through the service worker: nothing after a sign-out in a tab; the new key and token after a new sign-in', async () => {
  env.config = { ...env.config, dpop: true };
  env.op.accessTokenTtl = 30;
  context = await env.browser.newContext();
  const [app] = await openApps(context, env.appUrl, 1);
  expect(await userSignsIn(app!)).toBe('ok');
  const page = await controlledPage(context);
  const tiles = env.op.tilesUrl;
  expect(await loadImage(page, `${tiles}/1/0/0.png`)).toBe(256);
  expect(tileRequests().map((request) => request.outcome)).toEqual(['ok']);

  // Signed out in the tab: the worker's next requests go with nothing.
  expect(await inApp(app!, (application) => application.signOut(false))).toBe('ok');
  const afterSignOut = env.op.apiRequests.length;
  expect(await loadImage(page, `${tiles}/1/0/1.png`)).toBe(0);
  expect((await pageFetch(page, `${tiles}/1/1/1.png`).catch(() => ({ status: -1 }))).status).not.toBe(200);
  for (const request of tileRequests(afterSignOut)) expect(request).toMatchObject({ scheme: 'none' });

  // Signed in again in the tab (a new key): the worker signs with it, for the new token.
  expect(await userSignsIn(app!, 'ada.lovelace', { anotherUser: true })).toBe('ok');
  const afterSignIn = env.op.apiRequests.length;
  expect(await Promise.all([0, 1, 2].map((y) => loadImage(page, `${tiles}/2/0/${y}.png`)))).toEqual([256, 256, 256]);
  const signed = tileRequests(afterSignIn);
  expect(signed.map((request) => request.outcome)).toEqual(['ok', 'ok', 'ok']);
  expect(env.op.counts.failedApiCalls).toBe(0);
}, 90_000);
