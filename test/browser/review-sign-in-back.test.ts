import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp } from '../support/oidc-app.js';

/**
 * Review (issue 23, "every signIn settles"): the user leaves for the provider's login page and presses Back; the app
 * page comes back from the back/forward cache with its heap, and the signIn() it was awaiting must settle.
 * Chromium keeps pages in that cache only without playwright's `--disable-back-forward-cache`, and cacheable.
 */
const env = useOidcApp({}, { ignoreDefaultArgs: ['--disable-back-forward-cache'] });

it('the user presses Back on the provider\'s login page (the app restored from the back/forward cache): signIn() settles', async () => {
  env.config = { ...env.config, cacheable: true };
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  await inApp(page!, (app) => {
    (globalThis as unknown as { outcome: Promise<string> }).outcome = app.signInCode({});
  });
  await page!.waitForSelector('input[name="login"]');
  await page!.goBack({ waitUntil: 'commit' });
  const restored = await page!.evaluate(() => 'outcome' in globalThis);
  expect(restored, 'restored from the back/forward cache').toBe(true);
  const outcome = await page!.evaluate(() =>
    Promise.race([(globalThis as unknown as { outcome: Promise<string> }).outcome, new Promise<string>((resolve) => setTimeout(resolve, 3_000, 'still pending'))]),
  );
  expect(outcome).toBe('aborted');
  await context.close();
}, 60_000);
