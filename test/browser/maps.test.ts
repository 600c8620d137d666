import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, releaseChromium, serveFiles } from '../support/chromium.js';
import { colourAt, expectTileColour, mapFiles, mapFixtures, mapLibraries as libraries, type MapLibrary as Library, mapState, type MapState, settled } from '../support/map-pages.js';
import { type Recorder, serveTiles, startRecorder, type TileStats } from '../support/tiles.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let tiles: TileStats;
let browser: Browser;
let context: BrowserContext | undefined;
let client: { id: string; secret: string };
let always401 = 0;
let recorder: Recorder;

beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('map-app');
  server.route((_req, res, url) => {
    if (!url.pathname.startsWith('/always-401/')) return false;
    always401++;
    res.writeHead(401, { 'content-type': 'text/plain' }).end('no');
    return true;
  });
  tiles = serveTiles(server);
  serveFiles(server, { ...(await bundleFixtures(mapFixtures())), ...mapFiles() });
  recorder = await startRecorder();
  browser = await acquireChromium();
}, 120_000);
afterEach(async () => {
  await context?.close();
  context = undefined;
  server.reset();
  always401 = 0;
  recorder.requests.length = 0;
  Object.assign(tiles, { requests: 0, served: 0, unauthorized: 0, tokens: new Set(), paths: new Set() });
});
afterAll(async () => {
  await releaseChromium(browser);
  await recorder?.close();
  await server?.close();
});

/** Opens the map page; `extra` sets the fixture's `match` and `tileOrigin` (test/browser/fixtures/map-session.ts). */
async function openMap(library: Library, tilePath = 'tiles', extra: Record<string, string> = {}): Promise<Page> {
  context = await browser.newContext({ viewport: { width: 512, height: 512 } });
  const page = await context.newPage();
  const query = new URLSearchParams({ client: client.id, secret: client.secret, tiles: tilePath, ...extra });
  await page.goto(`${server.origin}/${library}.html?${query.toString()}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

describe.each(libraries)('%s', (library) => {
  it('protected tiles render with the token, and keep loading after the token is refreshed', async () => {
    server.lifetime = 6; // refreshed ahead of expiry after 3 s (half the lifetime)
    const page = await openMap(library);
    await settled(page, 0);
    expect(tiles.served).toBeGreaterThan(0);
    expect(tiles.unauthorized).toBe(0);
    expect(tiles.tokens.size).toBe(1);
    // OpenLayers also shows one protected single image (imageLoadFunction): the z0 tile, requested by no tile layer.
    if (library === 'openlayers') expect(tiles.paths).toContain('/tiles/0/0/0.png');
    expectTileColour(await colourAt(page, 256, 256));

    // The session refreshes ahead of expiry; tiles requested afterwards carry the new token.
    await page.waitForFunction(() => (globalThis as unknown as { mapState: MapState }).mapState.tokens >= 2, undefined, {
      timeout: 15_000,
    });
    const before = { served: tiles.served, settled: (await mapState(page)).settled };
    await page.evaluate(() => (globalThis as unknown as { moveTo(zoom: number): void }).moveTo(3));
    await settled(page, before.settled);
    expect(tiles.served).toBeGreaterThan(before.served);
    expect(tiles.tokens.size).toBeGreaterThanOrEqual(2);
    expect(tiles.unauthorized).toBe(0);
    expect((await mapState(page)).tileErrors).toBe(0);
    expectTileColour(await colourAt(page, 256, 256));
  });

  it('with match, tiles it names get the token and tiles it does not name load without it', async () => {
    const named = await openMap(library, 'tiles', { match: '/tiles/' });
    await settled(named, 0);
    expect(tiles.served).toBeGreaterThan(0);
    expect(tiles.unauthorized).toBe(0);
    await context?.close();

    // The same map with its tiles on another origin: `/tiles/` (the page's origin) does not name them.
    const other = await openMap(library, 'tiles', { match: '/tiles/', tileOrigin: recorder.origin });
    await settled(other, 0);
    const tileRequests = recorder.requests.filter((request) => request.method === 'GET' && request.path.startsWith('/tiles/'));
    expect(tileRequests.length).toBeGreaterThan(0);
    expect(tileRequests.filter((request) => request.headers.authorization !== undefined)).toEqual([]);
    expect((await mapState(other)).tileErrors).toBe(0);
  });

  if (library !== 'maplibre') {
    it('without match (documented): every URL the layer loads gets the token, on any origin', async () => {
      const page = await openMap(library, 'tiles', { tileOrigin: recorder.origin });
      await settled(page, 0);
      const tileRequests = recorder.requests.filter((request) => request.method === 'GET' && request.path.startsWith('/tiles/'));
      expect(tileRequests.length).toBeGreaterThan(0);
      expect(tileRequests.every((request) => request.headers.authorization?.startsWith('Bearer ') === true)).toBe(true);
    });

    // MapLibre sends its own requests (transformRequest only adds the header), so only the fetching helpers retry.
    it('a tile API that always answers 401: each tile is tried twice, then fails as a broken tile (no loop)', async () => {
      const page = await openMap(library, 'always-401');
      await settled(page, 0);
      const { tileErrors } = await mapState(page);
      expect(tileErrors).toBeGreaterThan(0);
      expect(always401).toBe(2 * tileErrors);
      expect(server.stats.tokenRequests).toBeLessThanOrEqual(1 + tileErrors);
    });
  }
});
