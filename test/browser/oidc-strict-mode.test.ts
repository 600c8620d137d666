import { expect, it } from 'vitest';
import { fillLoginForm } from '../support/oidc-app.js';
import { fixtureReady, useOidcFixtureApp } from '../support/oidc-fixture-app.js';

/**
 * React 18+ StrictMode (development) runs every effect twice: mount, unmount, mount. A component that creates its
 * `oidcSession` in an effect and closes it in the cleanup therefore creates a session, closes it and creates another
 * one, synchronously, on every load — also on the redirect page, with the callback in the URL. README: two sessions
 * for the same credential in one context share one session, reference counted, and "the shared state goes away with
 * the last `close()`": the second session is still open, so the sign-in must complete in it.
 *
 * Observed: the closed handle's `#start` has already taken the callback's transaction from IndexedDB; its code
 * exchange then fails (`closed`) and the transaction is gone; the live handle finds the spent mark and rejects
 * `ready` with `invalid_state`. The user signed in at the provider, 0 code exchanges, signed out in the app — every
 * time, so a StrictMode app can never sign in (src/oidc/session.ts: `#start`/`#callback` per handle, not per
 * credential; `close()` abandons a callback the credential's other handles depend on).
 */
const env = useOidcFixtureApp('test/browser/fixtures/oidc-strict-mode-app.ts');

it('create, close, create (React StrictMode) on the redirect page: the remaining session completes the sign-in', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(env.appUrl);
  expect(await fixtureReady(page)).toBe('ok');
  await page.evaluate(() => sessionStorage.setItem('strict', '1'));
  await page.click('#sign-in');
  await fillLoginForm(page, 'ada.lovelace');
  await page.waitForURL((url) => url.pathname === '/app.html' && !url.searchParams.has('code'));
  const ready = await fixtureReady(page);
  const state = await page.evaluate(() => (globalThis as unknown as { app: { state(): { signedIn: boolean } } }).app.state());
  expect({ ready, signedIn: state.signedIn, codeExchanges: env.op.counts.codeExchanges }).toEqual({ ready: 'ok', signedIn: true, codeExchanges: 1 });
  await context.close();
});

