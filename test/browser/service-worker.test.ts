import type { IncomingHttpHeaders } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, pageLoading, releaseChromium, serveFiles } from '../support/chromium.js';
import { loadImage, pageFetch } from '../support/page-requests.js';
import { type Recorder, serveTiles, startRecorder, type TileStats } from '../support/tiles.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let other: Recorder;
let tiles: TileStats;
let browser: Browser;
let context: BrowserContext | undefined;
let client: { id: string; secret: string };
const calls = { always401: 0, publicHeaders: [] as IncomingHttpHeaders[] };

beforeAll(async () => {
  server = await startTokenServer();
  other = await startRecorder();
  client = server.addClient('sw-app');
  server.route(async (req, res, url) => {
    switch (url.pathname) {
      case '/api/always-401':
        calls.always401++;
        res.writeHead(401, { 'content-type': 'text/html' }).end('<h1>no</h1>');
        return true;
      case '/api/redirect-away':
      case '/api/redirect-away.png':
        res.writeHead(302, { location: `${other.origin}/landing${url.pathname.endsWith('.png') ? '.png' : ''}` }).end();
        return true;
      case '/api/html-error':
        res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>upstream exploded</body></html>');
        return true;
      case '/api/slow':
        await new Promise((resolve) => setTimeout(resolve, 3000));
        res.writeHead(200, { 'content-type': 'text/plain' }).end('late');
        return true;
      case '/public/headers':
        calls.publicHeaders.push(req.headers);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('public');
        return true;
      default:
        return false;
    }
  });
  tiles = serveTiles(server);
  serveFiles(server, {
    ...(await bundleFixtures({
      'auth-sw': 'test/browser/fixtures/auth-sw.ts',
      'sw-page': 'test/browser/fixtures/sw-page.ts',
      smoke: 'test/browser/fixtures/smoke.ts',
    })),
    'sw.html': pageLoading('sw-page.js'),
    'index.html': pageLoading('smoke.js'),
  });
  browser = await acquireChromium();
});
afterEach(async () => {
  await context?.close();
  context = undefined;
  server.reset();
  other.requests.length = 0;
  calls.always401 = 0;
  calls.publicHeaders.length = 0;
  Object.assign(tiles, { requests: 0, served: 0, unauthorized: 0, tokens: new Set(), paths: new Set() });
});
afterAll(async () => {
  await releaseChromium(browser);
  await other?.close();
  await server?.close();
});

/** A fresh profile (no service worker yet) with a page that the auth service worker controls. */
async function controlledPage(): Promise<Page> {
  context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.origin}/sw.html?client=${client.id}&secret=${client.secret}&other=${encodeURIComponent(other.origin)}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

function askWorker(page: Page): Promise<{ errors: string[]; isLeader: boolean }> {
  return page.evaluate(() => (globalThis as unknown as { askWorker(): Promise<{ errors: string[]; isLeader: boolean }> }).askWorker());
}

describe('service worker: handleAuthFetch / installAuthFetch', () => {
  it('<img> and fetch requests for protected URLs succeed with no auth code in the page; one token request', async () => {
    const page = await controlledPage();
    const widths = await Promise.all([0, 1, 2, 3].map((x) => loadImage(page, `/tiles/2/${x}/1.png`)));
    expect(widths).toEqual([256, 256, 256, 256]);
    const responses = await Promise.all([1, 2, 3].map(() => pageFetch(page, '/api/echo')));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(JSON.parse(responses[0]!.body)).toMatchObject({ client: client.id });
    expect(tiles).toMatchObject({ served: 4, unauthorized: 0 });
    expect(server.stats.apiUnauthorized).toBe(0);
    expect(server.stats.tokenRequests).toBe(1);
  });

  it('unmatched requests get no Authorization header: other origins, and unmatched paths of the same origin', async () => {
    const page = await controlledPage();
    expect((await pageFetch(page, `${other.origin}/open`)).status).toBe(200);
    expect(await loadImage(page, `${other.origin}/open.png`)).toBe(8);
    expect((await pageFetch(page, '/public/headers')).status).toBe(200);
    // The one path of the other origin that the worker names explicitly does get the token.
    expect((await pageFetch(page, `${other.origin}/allowed/data`)).status).toBe(200);

    const received = (path: string) => other.requests.filter((request) => request.path === path && request.method !== 'OPTIONS');
    expect(received('/open')).toHaveLength(1);
    expect(received('/open')[0]?.headers.authorization).toBeUndefined();
    expect(received('/open.png')[0]?.headers.authorization).toBeUndefined();
    expect(calls.publicHeaders).toHaveLength(1);
    expect(calls.publicHeaders[0]?.authorization).toBeUndefined();
    expect(received('/allowed/data')[0]?.headers.authorization).toMatch(/^Bearer at_/);
  });

  it('401 → one refresh for all the requests that saw the revoked token, each retried once', async () => {
    const page = await controlledPage();
    expect((await pageFetch(page, '/api/echo')).status).toBe(200);
    server.revokeAll();
    server.resetStats();
    const [widths, statuses] = await Promise.all([
      Promise.all([0, 1, 2].map((x) => loadImage(page, `/tiles/3/${x}/2.png`))),
      Promise.all([1, 2, 3].map(async () => (await pageFetch(page, '/api/echo')).status)),
    ]);
    expect(widths).toEqual([256, 256, 256]);
    expect(statuses).toEqual([200, 200, 200]);
    expect(server.stats.tokenRequests).toBe(1);
  });

  it('an API that always answers 401: two attempts, the page gets the 401, the worker reports token_rejected', async () => {
    const page = await controlledPage();
    const response = await pageFetch(page, '/api/always-401');
    expect(response).toEqual({ status: 401, body: '<h1>no</h1>' });
    expect(calls.always401).toBe(2);
    expect((await askWorker(page)).errors).toEqual(['token_rejected']);
    // Bounded per request: the next one gets its own single retry.
    await pageFetch(page, '/api/always-401');
    expect(calls.always401).toBe(4);
  });

  it('a redirect to another origin does not carry the Authorization header (fetch and <img>)', async () => {
    const page = await controlledPage();
    const response = await pageFetch(page, '/api/redirect-away?from=fetch');
    expect(response).toEqual({ status: 200, body: '{"recorded":true}' });
    expect(await loadImage(page, '/api/redirect-away.png?from=img')).toBe(8);
    const landed = other.requests.filter((request) => request.path.startsWith('/landing') && request.method === 'GET');
    expect(landed.map((request) => request.path).sort()).toEqual(['/landing', '/landing.png']);
    for (const request of landed) expect(request.headers.authorization).toBeUndefined();
  });

  it('a non-JSON error body reaches the page untouched', async () => {
    const page = await controlledPage();
    expect(await pageFetch(page, '/api/html-error')).toEqual({ status: 500, body: '<html><body>upstream exploded</body></html>' });
  });

  it('an aborted request rejects in the page at once, while the token or the API is still pending', async () => {
    const page = await controlledPage();
    const outcome = (url: string) =>
      page.evaluate(async (target) => {
        const started = performance.now();
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 100);
        const result = await fetch(target, { signal: controller.signal }).then(
          (response) => `status ${response.status}`,
          (error: Error) => error.name,
        );
        return { result, ms: performance.now() - started };
      }, url);
    const slowApi = await outcome('/api/slow');
    expect(slowApi.result).toBe('AbortError');
    expect(slowApi.ms).toBeLessThan(2000);
    server.revokeAll();
    server.latency = 3000; // the worker's refresh after the 401 is slow
    const slowToken = await outcome('/api/echo');
    expect(slowToken.result).toBe('AbortError');
    expect(slowToken.ms).toBeLessThan(2000);
    server.latency = 0;
    // The worker is fine afterwards.
    expect((await pageFetch(page, '/api/echo')).status).toBe(200);
  });

  it('the service worker takes part in the same shared session as the tabs: 1 login in total', async () => {
    const page = await controlledPage();
    expect((await pageFetch(page, '/api/echo')).status).toBe(200);
    // A tab of the app that authenticates in the page itself, with the same credential.
    const tab = await context!.newPage();
    await tab.goto(`${server.origin}/index.html?client=${client.id}&secret=${client.secret}`);
    await tab.waitForFunction(() => document.title === 'ready');
    expect(await tab.evaluate(() => (globalThis as unknown as { callApi(): Promise<number> }).callApi())).toBe(200);
    // Browser sharing is the default in browsers: the tab and the service worker share one login.
    expect(server.stats.tokenRequests).toBe(1);
  });
});
