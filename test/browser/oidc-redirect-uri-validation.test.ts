import { expect, it } from 'vitest';
import { fixtureReady, useOidcFixtureApp } from '../support/oidc-fixture-app.js';

const env = useOidcFixtureApp('test/browser/fixtures/oidc-strict-mode-app.ts');

/**
 * `redirectUri: '/app.html'` (relative, as in many router configs; auth0-spa-js and oidc-client-ts want absolute URIs
 * too, and say so). README, "Errors": every failure is a `SessionError` with a stable code, `invalid_options` for "a
 * missing or invalid option" — as `clientId: ''` and a bad `issuer` are, at once, in the constructor.
 *
 * Observed: accepted by `oidcSession`; then `ready` rejects, on every page load, with a bare `TypeError: Failed to
 * construct 'URL': Invalid URL` (src/oidc/sign-in.ts `isAuthorizationResponse`: `new URL(redirectUri)` unguarded,
 * called from `#start`), no code; and `signIn()` sends the relative `redirect_uri` to the provider.
 */
it('a relative redirectUri is invalid_options (or resolved against the page), never a bare TypeError from ready', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(env.appUrl);
  expect(await fixtureReady(page)).toBe('ok');
  const outcome = await page.evaluate(() => (globalThis as unknown as { app: { relativeRedirectUri(): Promise<string> } }).app.relativeRedirectUri());
  expect(outcome).toMatch(/^(constructor: invalid_options|ready: invalid_options|ready: ok)$/);
  await context.close();
});
