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
 * Review: an OpenLayers source that follows the sign-in (`openlayersFollowSignIn`), refreshed by a sign-out in another
 * tab, aborts the tile requests (made with the token of the sign-in that ended) still on their way, as a Leaflet
 * `SessionTileLayer` does, instead of fetching them to the end.
 */
const require = createRequire(import.meta.url);
const state = {} as { server: Server; origin: string; op: OpenIdProvider; browser: Browser };
const slow = { inFlight: 0, answered: 0, aborted: 0 };

beforeAll(async () => {
  const bundles = await bundleFixtures({ 'review-map-follow': 'test/browser/fixtures/review-map-follow.ts' });
  const css = (specifier: string): string => readFileSync(require.resolve(specifier), 'utf8');
  const files: Record<string, [string, string | Buffer]> = {
    '/review-map-follow.js': ['text/javascript', bundles['review-map-follow.js']!],
    '/maplibre-gl-worker.js': ['text/javascript', readFileSync(require.resolve('maplibre-gl/dist/maplibre-gl-worker.mjs'), 'utf8')],
    '/styles.css': ['text/css', [css('maplibre-gl/dist/maplibre-gl.css'), css('ol/ol.css'), css('leaflet/dist/leaflet.css')].join('\n')],
  };
  const tile = solidPng(256, TILE_COLOUR);
  state.server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname.startsWith('/tiles/')) {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const live = token !== undefined && (await state.op.introspect(token)).active;
        if (!live) {
          res.writeHead(401, { 'cache-control': 'no-store' }).end();
          return;
        }
        if (url.pathname === '/tiles/tilejson.json') {
          const tilejson = { tilejson: '3.0.0', tiles: [`${state.origin}/tiles/{z}/{x}/{y}.png?lib=tilejson`], minzoom: 0, maxzoom: 10 };
          res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(tilejson));
          return;
        }
        if (url.searchParams.has('slow')) {
          slow.inFlight++;
          let done = false;
          res.on('close', () => {
            slow.inFlight--;
            if (!done) slow.aborted++;
          });
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          if (res.destroyed) return;
          done = true;
          slow.answered++;
        }
        res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' }).end(tile);
        return;
      }
      if (url.pathname === '/map.html') {
        const config = JSON.stringify({ issuer: state.op.issuer, clientId: 'web', scope: SCOPE });
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(
          `<!doctype html><html><head><meta charset="utf-8"><title>map</title><link rel="stylesheet" href="/styles.css">` +
            `<style>body{margin:0}#map{width:512px;height:512px}</style></head><body><div id="map"></div>` +
            `<button id="sign-in" style="position:absolute;top:520px">Sign in</button>` +
            `<script>globalThis.mapConfig = ${config};</script><script type="module" src="/review-map-follow.js"></script></body></html>`,
        );
        return;
      }
      const file = files[url.pathname];
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

async function centreColour(page: Page): Promise<number[]> {
  const png = await page.screenshot({ clip: { x: 256, y: 256, width: 1, height: 1 } });
  return page.evaluate(async (base64) => {
    const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob());
    const context2d = new OffscreenCanvas(1, 1).getContext('2d')!;
    context2d.drawImage(bitmap, 0, 0);
    return [...context2d.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  }, png.toString('base64'));
}

const isTile = (colour: number[]): boolean => colour.every((channel, index) => Math.abs(channel - TILE_COLOUR[index]!) <= 8);

it('a sign-out in another tab aborts the OpenLayers tile requests made with the token', { timeout: 90_000 }, async () => {
  const context = await state.browser.newContext({ viewport: { width: 512, height: 560 } });
  try {
    const olTab = await context.newPage();
    const signer = await context.newPage();
    const pageErrors: string[] = [];
    for (const tab of [olTab, signer]) tab.on('pageerror', (error) => pageErrors.push(String(error)));
    await olTab.goto(`${state.origin}/map.html?lib=openlayers`);
    await signer.goto(`${state.origin}/map.html?lib=signer`);
    for (const tab of [olTab, signer]) await tab.waitForFunction(() => document.title === 'ready');

    await signer.click('#sign-in');
    await fillLoginForm(signer, 'ada.lovelace');
    await signer.waitForURL((url) => url.pathname === '/map.html' && !url.searchParams.has('code'));

    await expect.poll(() => slow.inFlight, { timeout: 20_000 }).toBeGreaterThanOrEqual(4);
    const inFlight = slow.inFlight;
    await signer.evaluate(() => (globalThis as unknown as { app: { signOut(): Promise<void> } }).app.signOut());
    await expect.poll(() => slow.aborted, { timeout: 10_000, message: `${inFlight} tile requests in flight at the sign-out` }).toBe(inFlight);
    expect(slow.answered).toBe(0);
    expect(isTile(await centreColour(olTab))).toBe(false);
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
});
