import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, releaseChromium, serveFiles } from '../support/chromium.js';
import { serveTiles, type TileStats } from '../support/tiles.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const example = path.resolve(import.meta.dirname, '../../examples/service-worker');
let server: TokenServer;
let tiles: TileStats;
let browser: Browser;
let context: BrowserContext;
let backendCalls = 0;

beforeAll(async () => {
  server = await startTokenServer();
  const client = server.addClient('sw-example');
  // The app's backend: it holds the client secret and hands the page's service worker a token.
  server.route(async (_req, res, url) => {
    if (url.pathname !== '/session-token') return false;
    backendCalls++;
    const response = await fetch(server.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }),
    });
    res.writeHead(response.status, { 'content-type': 'application/json' }).end(await response.text());
    return true;
  });
  tiles = serveTiles(server);
  serveFiles(server, {
    ...(await bundleFixtures({ main: 'examples/service-worker/main.ts', sw: 'examples/service-worker/sw.ts' })),
    'index.html': readFileSync(path.join(example, 'index.html'), 'utf8'),
  });
  browser = await acquireChromium();
  context = await browser.newContext();
});
afterAll(async () => {
  await context?.close();
  await releaseChromium(browser);
  await server?.close();
});

it('examples/service-worker: 3 tabs show their protected tiles with 1 token request', async () => {
  const first = await context.newPage();
  await first.goto(server.origin); // installs the worker; the tiles load once it controls the page
  const pages = [first, await context.newPage(), await context.newPage()];
  await Promise.all(pages.slice(1).map((page) => page.goto(server.origin)));
  for (const page of pages) {
    await page.waitForFunction(() => {
      const images = [...document.querySelectorAll('img')];
      return images.length === 3 && images.every((img) => img.complete && img.naturalWidth > 0);
    });
  }
  expect(tiles.served).toBe(9);
  expect(tiles.unauthorized).toBe(0);
  expect(backendCalls).toBe(1);
});
