import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp, waitForApp } from '../support/oidc-app.js';

/**
 * Review (issue 23, a framework app): the app closes its only session on the callback page while the code exchange
 * is at the provider (a route change unmounts the component that owns it). Whatever the outcome, the tabs must agree:
 * either every tab (and one opened later) is signed in as the user, or none is — never a tab signed in while a later
 * tab says signed out with a live token in storage.
 */
const env = useOidcApp();

async function heldCallback(page: Page): Promise<string> {
  env.config = { ...env.config, holdCallbacks: true };
  await page.click('#sign-in');
  await fillLoginForm(page, 'ada.lovelace');
  await page.waitForURL((url) => url.pathname === '/app.html' && url.searchParams.has('code'));
  env.config = { ...env.config, holdCallbacks: false };
  const url = page.url();
  await page.goto(env.appUrl);
  await waitForApp(page);
  return url;
}

it('the only session closed on the callback page while its code exchange is at the provider: every tab agrees afterwards', async () => {
  const context = await env.browser.newContext();
  const [callback, watcher] = await openApps(context, env.appUrl, 2);
  const url = await heldCallback(callback!);
  env.op.tokenLatency = 1_500;
  await callback!.goto(url);
  await callback!.waitForFunction(() => 'app' in globalThis);
  await expect.poll(() => env.op.log.some((entry) => entry.event.startsWith('grant') || entry.event === 'authorization.success')).toBe(true);
  await new Promise((resolve) => setTimeout(resolve, 600));
  await inApp(callback!, (app) => app.session.close());
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  env.op.tokenLatency = 0;
  const [late] = await openApps(context, env.appUrl, 1);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const watched = await inApp(watcher!, (app) => ({ signedIn: app.state().signedIn, token: app.token() }));
  const later = await inApp(late!, (app) => ({ signedIn: app.state().signedIn }));
  const lateToken = await inApp(late!, (app) => app.token());
  const watcherToken = await inApp(watcher!, (app) => app.token());
  const summary = JSON.stringify({ watched: watched.signedIn, later: later.signedIn, lateToken: lateToken.slice(0, 30), watcherToken: watcherToken.slice(0, 30), counts: env.op.counts });
  expect(watched.signedIn, summary).toBe(later.signedIn);
  expect(later.signedIn, summary).toBe(!lateToken.startsWith('error:'));
  expect(watched.signedIn, summary).toBe(!watcherToken.startsWith('error:'));
  await context.close();
}, 60_000);
