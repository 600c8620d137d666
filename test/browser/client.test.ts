import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium, serveFiles } from '../support/chromium.js';
import { type Recorder, startRecorder } from '../support/tiles.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let other: Recorder;
let browser: Browser;
let client: { id: string; secret: string };
let always401 = 0;

beforeAll(async () => {
  server = await startTokenServer();
  other = await startRecorder();
  client = server.addClient('client-page');
  server.route((_req, res, url) => {
    if (url.pathname === '/api/redirect-away') {
      res.writeHead(302, { location: `${other.origin}/landing` }).end();
      return true;
    }
    if (url.pathname === '/api/always-401') {
      always401++;
      res.writeHead(401, { 'content-type': 'text/plain' }).end('no');
      return true;
    }
    return false;
  });
  serveFiles(server, {
    ...(await bundleFixtures({ 'client-page': 'test/browser/fixtures/client-page.ts' })),
    'client.html': pageLoading('client-page.js'),
  });
  browser = await acquireChromium();
});
afterEach(() => {
  server.reset();
  other.requests.length = 0;
  always401 = 0;
});
afterAll(async () => {
  await releaseChromium(browser);
  await other?.close();
  await server?.close();
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.origin}/client.html?client=${client.id}&secret=${client.secret}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

function call(page: Page, path: string): Promise<unknown> {
  return page.evaluate((target) => (globalThis as unknown as { call(path: string): Promise<unknown> }).call(target), path);
}

it('createClient in Chromium: a redirect to another origin does not carry the Authorization header', async () => {
  const page = await openPage();
  expect(await call(page, 'api/redirect-away')).toEqual({ status: 200, body: '{"recorded":true}' });
  const landed = other.requests.filter((request) => request.method === 'GET');
  expect(landed).toHaveLength(1);
  expect(landed[0]?.headers.authorization).toBeUndefined();
  await page.close();
});

it('createClient in Chromium: an API that always answers 401 ends in token_rejected after two attempts', async () => {
  const page = await openPage();
  expect(await call(page, 'api/always-401')).toEqual({ error: 'SessionError', code: 'token_rejected' });
  expect(always401).toBe(2);
  await page.close();
});
