import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium, serveFiles } from '../support/chromium.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let browser: Browser;

beforeAll(async () => {
  server = await startTokenServer();
  serveFiles(server, {
    ...(await bundleFixtures({ 'auth-sw': 'test/browser/fixtures/auth-sw.ts', 'sw-page': 'test/browser/fixtures/sw-page.ts' })),
    'sw.html': pageLoading('sw-page.js'),
  });
  browser = await acquireChromium();
});
afterAll(async () => {
  await releaseChromium(browser);
  await server?.close();
});

// Service workers never lead (the browser stops them when idle), so in an app whose only session lives in its service
// worker nobody refreshes ahead of expiry. The worker still serves every request: when its token is stale on a read,
// it sees there is no leader, and fetches a new one at once, under the credential's lock, without waiting for an answer.
it('a session that lives only in the service worker refreshes on read when its token is stale, without waiting', async () => {
  server.lifetime = 4; // stale after 2 s: the refresh margin is clamped to half the lifetime
  const client = server.addClient('sw-alone');
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.origin}/sw.html?client=${client.id}&secret=${client.secret}`);
  await page.waitForFunction(() => document.title === 'ready');
  const call = (): Promise<{ status: number; token: string | undefined; ms: number }> =>
    page.evaluate(async () => {
      const started = performance.now();
      const response = await fetch('/api/echo');
      const body = (await response.json()) as { token?: string };
      return { status: response.status, token: body.token, ms: performance.now() - started };
    });

  const first = await call();
  expect(first.status).toBe(200);
  expect(first.ms).toBeLessThan(1_000); // no answerTimeout (2 s) spent waiting for a leader
  expect(server.stats.tokenRequests).toBe(1);
  // Nothing refreshes ahead of expiry.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  expect(server.stats.tokenRequests).toBe(1);

  // The next read finds the token stale (not yet expired) and replaces it, at once.
  const second = await call();
  expect(second.status).toBe(200);
  expect(second.token).not.toBe(first.token);
  expect(second.ms).toBeLessThan(1_000);
  expect(server.stats.tokenRequests).toBe(2);
  expect(await call()).toMatchObject({ status: 200, token: second.token });
  expect(server.stats.tokenRequests).toBe(2);
  const report = await page.evaluate(() =>
    (globalThis as unknown as { askWorker(): Promise<{ errors: string[]; isLeader: boolean }> }).askWorker(),
  );
  expect(report).toEqual({ errors: [], isLeader: false });
  await context.close();
});
