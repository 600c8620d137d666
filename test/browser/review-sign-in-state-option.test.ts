import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp } from '../support/oidc-app.js';

/**
 * Review (bad input → a typed error that names it): signIn({ state }) is stored with the transaction (structured
 * clone). A state that cannot be stored — a function, a DOM node, a class instance with one — is the app's mistake:
 * `invalid_options` before the page leaves, not "IndexedDB is unavailable" (`unsupported_context`), which tells the
 * app to fall back to something else.
 */
const env = useOidcApp();

it('signIn({ state: a function }) is invalid_options, and the page stays', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  const outcome = await inApp(page!, (app) => app.session.signIn({ state: { back: () => 1 } }).then(() => 'ok', (error: { code?: string }) => error.code));
  expect(outcome).toBe('invalid_options');
  expect(page!.url()).toBe(env.appUrl);
  expect(env.op.counts.authorizations).toBe(0);
  await context.close();
});
