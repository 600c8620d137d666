import { expect, it } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp, waitForApp } from '../support/oidc-app.js';

/**
 * `ready` brings back what the callback carried: the return path and the app's own `state` given to `signIn`, so
 * that a router can navigate instead of relying on the URL rewrite. The state stays in this browser (IndexedDB),
 * never in the URL sent to the provider.
 */
const env = useOidcApp();

it('signIn({ state, returnTo }): ready on the redirect page resolves { returnTo, state }; the provider never sees the state', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  const state = { route: '/maps/42', layers: ['s2', 'dem'] };
  const authorizeUrls: string[] = [];
  page!.on('request', (request) => {
    if (request.url().startsWith(env.op.issuer)) authorizeUrls.push(request.url());
  });
  void inApp(page!, (app, appState) => app.session.signIn({ returnTo: '/app.html#maps', state: appState }), state).catch(() => undefined);
  await fillLoginForm(page!, 'ada.lovelace');
  await page!.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code'));
  expect(await waitForApp(page!)).toBe('ok');
  const result = await inApp(page!, async (app) => ({ ready: await app.session.ready, signedIn: app.session.signedIn }));
  expect(result).toEqual({ ready: { returnTo: '/app.html#maps', state }, signedIn: true });
  expect(authorizeUrls.some((url) => url.includes('maps') || url.includes('dem'))).toBe(false);
  // A later load of the page (no callback): nothing to bring back.
  await page!.reload();
  await waitForApp(page!);
  expect(await inApp(page!, async (app) => (await app.session.ready) ?? null)).toBeNull();
  await context.close();
});
