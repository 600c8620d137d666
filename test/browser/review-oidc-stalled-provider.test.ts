import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { fillLoginForm, inApp, openApps, useOidcApp, userSignsIn, waitForApp } from '../support/oidc-app.js';

/**
 * Review (issue 23, "every wait on the provider is bounded by timeout"): endpoints that accept the request and never
 * answer, in real Chromium (the page's requests held by Playwright). The app's sessions use the default timeout (10 s).
 */
const env = useOidcApp();
const BOUND = 10_000 + 3_000;

/** Holds every request of `page` to URLs matching `pattern` forever (the provider accepted it and never answers). */
async function stall(page: Page, pattern: string): Promise<void> {
  await page.route(pattern, () => new Promise<void>(() => undefined));
}

async function callbackUrl(page: Page): Promise<string> {
  env.config = { ...env.config, holdCallbacks: true };
  await page.click('#sign-in');
  await fillLoginForm(page, 'ada.lovelace');
  await page.waitForURL((url) => url.pathname === '/app.html' && url.searchParams.has('code'));
  env.config = { ...env.config, holdCallbacks: false };
  return page.url();
}

it('signOut with a revocation endpoint that never answers settles within the timeout, signed out everywhere, reported as timeout', async () => {
  const context = await env.browser.newContext();
  const [page, other] = await openApps(context, env.appUrl, 2);
  expect(await userSignsIn(page!)).toBe('ok');
  await stall(page!, '**/token/revocation');
  const started = Date.now();
  expect(await inApp(page!, (app) => app.signOut(false))).toBe('ok');
  expect(Date.now() - started).toBeLessThan(BOUND);
  await expect.poll(() => inApp(other!, (app) => app.state().signedIn)).toBe(false);
  const errors = (await inApp(page!, (app) => app.log)).filter((entry) => entry.event === 'error').map((entry) => entry.detail);
  expect(errors).toEqual(['timeout']);
  await context.close();
}, 60_000);

it('a callback whose code exchange never answers: ready rejects with timeout within the timeout, not signed in anywhere', async () => {
  const context = await env.browser.newContext();
  const [page, other] = await openApps(context, env.appUrl, 2);
  const url = await callbackUrl(page!);
  await stall(page!, '**/token');
  const started = Date.now();
  await page!.goto(url);
  expect(await waitForApp(page!)).toBe('timeout');
  expect(Date.now() - started).toBeLessThan(BOUND);
  for (const tab of [page!, other!]) expect(await inApp(tab, (app) => app.state().signedIn)).toBe(false);
  await context.close();
}, 60_000);

it('a callback page whose discovery never answers: ready rejects with timeout within the timeout', async () => {
  const context = await env.browser.newContext();
  const [page] = await openApps(context, env.appUrl, 1);
  const url = await callbackUrl(page!);
  await stall(page!, '**/.well-known/openid-configuration');
  const started = Date.now();
  await page!.goto(url);
  expect(await waitForApp(page!)).toBe('timeout');
  expect(Date.now() - started).toBeLessThan(BOUND);
  expect(await inApp(page!, (app) => app.state().signedIn)).toBe(false);
  await context.close();
}, 60_000);
