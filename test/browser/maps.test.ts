import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleFixtures, launchChromium, serveFiles } from '../support/chromium.js';
import { type Recorder, serveTiles, startRecorder, TILE_COLOUR, type TileStats } from '../support/tiles.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const require = createRequire(import.meta.url);
const libraries = ['maplibre', 'openlayers', 'leaflet'] as const;
type Library = (typeof libraries)[number];

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
  const bundles = await bundleFixtures(
    Object.fromEntries(libraries.map((library) => [library, `test/browser/fixtures/${library}-page.ts`])),
  );
  const css = (specifier: string): string => readFileSync(require.resolve(specifier), 'utf8');
  serveFiles(server, {
    ...bundles,
    ...Object.fromEntries(libraries.map((library) => [`${library}.html`, mapPage(library)])),
    'maplibre-gl.css': css('maplibre-gl/dist/maplibre-gl.css'),
    'ol.css': css('ol/ol.css'),
    'leaflet.css': css('leaflet/dist/leaflet.css'),
    'maplibre-gl-worker.js': readFileSync(require.resolve('maplibre-gl/dist/maplibre-gl-worker.mjs'), 'utf8'),
  });
  recorder = await startRecorder();
  browser = await launchChromium();
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
  await browser?.close();
  await recorder?.close();
  await server?.close();
});

function mapPage(library: Library): string {
  const stylesheet = { maplibre: 'maplibre-gl.css', openlayers: 'ol.css', leaflet: 'leaflet.css' }[library];
  return `<!doctype html><html><head><meta charset="utf-8"><title>${library}</title>
<link rel="stylesheet" href="/${stylesheet}"><style>body{margin:0}#map{width:512px;height:512px}</style></head>
<body><div id="map"></div><script type="module" src="/${library}.js"></script></body></html>`;
}

interface MapState {
  tokens: number;
  tileErrors: number;
  settled: number;
}

/** Opens the map page; `extra` sets the fixture's `match` and `tileOrigin` (test/browser/fixtures/map-session.ts). */
async function openMap(library: Library, tilePath = 'tiles', extra: Record<string, string> = {}): Promise<Page> {
  context = await browser.newContext({ viewport: { width: 512, height: 512 } });
  const page = await context.newPage();
  const query = new URLSearchParams({ client: client.id, secret: client.secret, tiles: tilePath, ...extra });
  await page.goto(`${server.origin}/${library}.html?${query.toString()}`);
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

function mapState(page: Page): Promise<MapState> {
  return page.evaluate(() => ({ ...(globalThis as unknown as { mapState: MapState }).mapState }));
}

/** Waits until the map reports that all tiles of the view are done, after `since` such reports. */
async function settled(page: Page, since: number): Promise<void> {
  await page.waitForFunction((count) => (globalThis as unknown as { mapState: MapState }).mapState.settled > count, since, {
    timeout: 20_000,
  });
}

/** The colour of one pixel on screen, read from a real screenshot (decoded by the browser itself). */
async function colourAt(page: Page, x: number, y: number): Promise<number[]> {
  const png = await page.screenshot({ clip: { x, y, width: 1, height: 1 } });
  return page.evaluate(async (base64) => {
    const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob());
    const canvas = new OffscreenCanvas(1, 1);
    const context2d = canvas.getContext('2d')!;
    context2d.drawImage(bitmap, 0, 0);
    return [...context2d.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  }, png.toString('base64'));
}

function expectTileColour(colour: number[]): void {
  colour.forEach((channel, index) => expect(Math.abs(channel - TILE_COLOUR[index]!)).toBeLessThanOrEqual(8));
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
