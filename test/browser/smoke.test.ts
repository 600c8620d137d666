import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium, serveFiles } from '../support/chromium.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let browser: Browser;

beforeAll(async () => {
  server = await startTokenServer();
  serveFiles(server, {
    ...(await bundleFixtures({ smoke: 'test/browser/fixtures/smoke.ts' })),
    'index.html': pageLoading('smoke.js'),
  });
  browser = await acquireChromium();
});
afterAll(async () => {
  await releaseChromium(browser);
  await server?.close();
});

it('the built package authenticates in real Chromium and its token opens the protected API', async () => {
  const client = server.addClient('browser-app');
  const page = await browser.newPage();
  await page.goto(`${server.origin}/index.html?client=${client.id}&secret=${client.secret}`);
  await page.waitForFunction(() => document.title === 'ready');
  expect(await page.evaluate(() => (globalThis as unknown as { callApi(): Promise<number> }).callApi())).toBe(200);
  expect(server.stats.tokenRequests).toBe(1);
});
