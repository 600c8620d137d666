import { expect, it } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp } from '../support/oidc-app.js';

/**
 * Review (issue 23, "every signIn settles"): the popup sign-in asks the app's own page (`HEAD`) whether it is served
 * under COOP. An app server (or a proxy, a dev server) that never answers HEAD must not keep signIn() from settling
 * once the user has signed in in the popup.
 */
const env = useOidcApp();

it('popup sign-in while the app server never answers HEAD: signIn() settles, signed in, 1 code exchange', async () => {
  const context = await env.browser.newContext();
  const [opener] = await openApps(context, env.appUrl, 1);
  await opener!.route('**/app.html', async (route) => {
    if (route.request().method() === 'HEAD') return new Promise<void>(() => undefined);
    return route.continue();
  });
  const opened = context.waitForEvent('page');
  await opener!.click('#sign-in-popup');
  const popup = await opened;
  await fillLoginForm(popup, 'grace.hopper');
  await popup.waitForEvent('close', { timeout: 15_000 });
  // The sign-in holds (the session is signed in); signIn() must say so within the request timeout (10 s).
  await expect.poll(() => inApp(opener!, (app) => Promise.race([app.popupResult(), new Promise<string>((resolve) => setTimeout(resolve, 300, 'pending'))])), { timeout: 13_000 }).toBe('ok');
  expect(await inApp(opener!, (app) => app.state())).toMatchObject({ signedIn: true, user: { sub: 'grace.hopper' } });
  expect(env.op.counts).toMatchObject({ codeExchanges: 1 });
  await context.close();
}, 60_000);
