import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { inApp, openApps, useOidcApp } from '../support/oidc-app.js';

/**
 * Review (issue 23, "every signIn settles within the timeout"): signIn() (redirect) resolves never, as the page
 * leaves for the provider. When the page does not leave — the user answers "Stay" to the app's unsaved-changes
 * prompt (a map editor's beforeunload), or the authorization endpoint answers 204 — signIn() must still settle, so
 * that the app's "Signing in…" state ends.
 */
const env = useOidcApp();
const settled = (page: Page) =>
  inApp(page, (app) => Promise.race([app.signInCode({}), new Promise<string>((resolve) => setTimeout(resolve, 13_000, 'still pending after 13 s'))]));

it('the user stays on the page at the beforeunload prompt: signIn() settles (typed), and the page is usable', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  await page!.evaluate(() => addEventListener('beforeunload', (event) => event.preventDefault()));
  // A user gesture, so that Chromium shows the prompt; the user answers "Stay".
  await page!.click('body');
  page!.on('dialog', (dialog) => void dialog.dismiss());
  const outcome = await settled(page!);
  expect(outcome).not.toBe('still pending after 13 s');
  expect(page!.url()).toBe(env.appUrl);
  await context.close();
}, 60_000);

it('an authorization endpoint that answers 204 (the navigation does not happen): signIn() settles', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  await page!.route('**/auth?**', (route) => route.fulfill({ status: 204 }));
  const outcome = await settled(page!);
  expect(outcome).not.toBe('still pending after 13 s');
  expect(page!.url()).toBe(env.appUrl);
  await context.close();
}, 60_000);
