import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acquireChromium, bundleFixtures, releaseChromium } from '../support/chromium.js';
import { fillLoginForm, SCOPE } from '../support/oidc-app.js';
import { startOpenIdProvider, type OpenIdProvider } from '../support/openid-provider.js';
import { solidPng, TILE_COLOUR } from '../support/tiles.js';

/**
 * The map helpers follow the sign-in (oidcSession, the real provider, real Chromium): three tabs, one map library
 * each, open signed out (tiles go without a token, nothing rejects); a sign-in in one tab makes every tab's protected
 * tiles appear (the failed ones are requested again); a sign-out in another makes them go, in every tab.
 */
const require = createRequire(import.meta.url);
const libraries = ['maplibre', 'openlayers', 'leaflet'] as const;
const state = {} as { server: Server; origin: string; op: OpenIdProvider; browser: Browser };
const served = { authorized: 0, unauthorized: 0 };

beforeAll(async () => {
  const bundles = await bundleFixtures({ 'sign-in-map': 'test/browser/fixtures/sign-in-map.ts' });
  const css = (specifier: string): string => readFileSync(require.resolve(specifier), 'utf8');
  const files: Record<string, [string, string | Buffer]> = {
    '/sign-in-map.js': ['text/javascript', bundles['sign-in-map.js']!],
    '/maplibre-gl-worker.js': ['text/javascript', readFileSync(require.resolve('maplibre-gl/dist/maplibre-gl-worker.mjs'), 'utf8')],
    '/styles.css': ['text/css', [css('maplibre-gl/dist/maplibre-gl.css'), css('ol/ol.css'), css('leaflet/dist/leaflet.css')].join('\n')],
  };
  const tile = solidPng(256, TILE_COLOUR);
  state.server = createServer((req, res) => {
    void (async () => {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost');
      if (pathname.startsWith('/tiles/')) {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const live = token !== undefined && (await state.op.introspect(token)).active;
        if (live) served.authorized++;
        else served.unauthorized++;
        if (live) res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' }).end(tile);
        else res.writeHead(401, { 'cache-control': 'no-store' }).end();
        return;
      }
      if (pathname === '/map.html') {
        const config = JSON.stringify({ issuer: state.op.issuer, clientId: 'web', scope: SCOPE });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(
          `<!doctype html><html><head><meta charset="utf-8"><title>map</title><link rel="stylesheet" href="/styles.css">` +
            `<style>body{margin:0}#map{width:512px;height:512px}</style></head><body><div id="map"></div>` +
            `<button id="sign-in" style="position:absolute;top:520px">Sign in</button>` +
            `<script>globalThis.mapConfig = ${config};</script><script type="module" src="/sign-in-map.js"></script></body></html>`,
        );
        return;
      }
      const file = files[pathname];
      if (file === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' }).end(file[1]);
    })();
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  state.op = await startOpenIdProvider({ clients: [{ clientId: 'web', redirectUris: [`${state.origin}/map.html`] }] });
  state.browser = await acquireChromium();
}, 120_000);

afterAll(async () => {
  await releaseChromium(state.browser);
  await state.op?.close();
  await new Promise<void>((resolve) => {
    state.server?.closeAllConnections();
    state.server?.close(() => resolve());
  });
});

/** The colour at the map's centre, from a real screenshot (decoded by the browser itself). */
async function centreColour(page: Page): Promise<number[]> {
  const png = await page.screenshot({ clip: { x: 256, y: 256, width: 1, height: 1 } });
  return page.evaluate(async (base64) => {
    const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob());
    const canvas = new OffscreenCanvas(1, 1);
    const context2d = canvas.getContext('2d')!;
    context2d.drawImage(bitmap, 0, 0);
    return [...context2d.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  }, png.toString('base64'));
}

const isTile = (colour: number[]): boolean => colour.every((channel, index) => Math.abs(channel - TILE_COLOUR[index]!) <= 8);

it('MapLibre, OpenLayers and Leaflet in three tabs: open signed out, a sign-in in one shows every tab its protected tiles, a sign-out in another clears them', async () => {
  const context = await state.browser.newContext({ viewport: { width: 512, height: 560 } });
  const tabs = await Promise.all(libraries.map(() => context.newPage()));
  const pageErrors: string[] = [];
  for (const tab of tabs) tab.on('pageerror', (error) => pageErrors.push(String(error)));
  await Promise.all(tabs.map((tab, index) => tab.goto(`${state.origin}/map.html?lib=${libraries[index]}`)));
  await Promise.all(tabs.map((tab) => tab.waitForFunction(() => document.title === 'ready')));

  // Signed out: the maps open, their protected tiles were asked for without a token (401), nothing on screen.
  await expect.poll(() => served.unauthorized, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
  expect(served.authorized).toBe(0);
  for (const tab of tabs) expect(isTile(await centreColour(tab))).toBe(false);

  // The user signs in in the MapLibre tab; every tab's protected tiles appear.
  const [maplibreTab, openlayersTab] = tabs as [Page, Page, Page];
  await maplibreTab.click('#sign-in');
  await fillLoginForm(maplibreTab, 'ada.lovelace');
  await maplibreTab.waitForURL((url) => url.pathname === '/map.html' && !url.searchParams.has('code'));
  for (const [index, tab] of tabs.entries()) {
    await expect.poll(async () => isTile(await centreColour(tab)), { timeout: 20_000, message: `${libraries[index]} shows its tiles` }).toBe(true);
  }
  expect(state.op.counts.codeExchanges).toBe(1);

  // The user signs out in the OpenLayers tab; every tab's protected tiles go.
  await openlayersTab.evaluate(() => (globalThis as unknown as { app: { signOut(): Promise<void> } }).app.signOut());
  for (const [index, tab] of tabs.entries()) {
    await expect.poll(async () => isTile(await centreColour(tab)), { timeout: 20_000, message: `${libraries[index]} cleared its tiles` }).toBe(false);
  }
  expect(pageErrors).toEqual([]);
  for (const tab of tabs) expect(await tab.evaluate(() => (globalThis as unknown as { app: { errors: string[] } }).app.errors)).toEqual([]);
  await context.close();
});
