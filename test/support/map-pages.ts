import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { TILE_COLOUR } from './tiles.js';

/**
 * The map pages of the browser tests (test/browser/fixtures/<library>-page.ts, which read their session and tile URLs
 * from the query string, see map-session.ts and query-session.ts), and what a test reads from them.
 */
const require = createRequire(import.meta.url);
export const mapLibraries = ['maplibre', 'openlayers', 'leaflet'] as const;
export type MapLibrary = (typeof mapLibraries)[number];

/** The fixtures to bundle: `<library>.js` for each library. */
export function mapFixtures(): Record<string, string> {
  return Object.fromEntries(mapLibraries.map((library) => [library, `test/browser/fixtures/${library}-page.ts`]));
}

/** The pages (`<library>.html`), the libraries' stylesheets and MapLibre's worker, by the path they are served under. */
export function mapFiles(): Record<string, string> {
  const css = (specifier: string): string => readFileSync(require.resolve(specifier), 'utf8');
  return {
    ...Object.fromEntries(mapLibraries.map((library) => [`${library}.html`, mapPage(library)])),
    'maplibre-gl.css': css('maplibre-gl/dist/maplibre-gl.css'),
    'ol.css': css('ol/ol.css'),
    'leaflet.css': css('leaflet/dist/leaflet.css'),
    'maplibre-gl-worker.js': readFileSync(require.resolve('maplibre-gl/dist/maplibre-gl-worker.mjs'), 'utf8'),
  };
}

function mapPage(library: MapLibrary): string {
  const stylesheet = { maplibre: 'maplibre-gl.css', openlayers: 'ol.css', leaflet: 'leaflet.css' }[library];
  return `<!doctype html><html><head><meta charset="utf-8"><title>${library}</title>
<link rel="stylesheet" href="/${stylesheet}"><style>body{margin:0}#map{width:512px;height:512px}</style></head>
<body><div id="map"></div><script type="module" src="/${library}.js"></script></body></html>`;
}

export interface MapState {
  tokens: number;
  tileErrors: number;
  settled: number;
}

export function mapState(page: Page): Promise<MapState> {
  return page.evaluate(() => ({ ...(globalThis as unknown as { mapState: MapState }).mapState }));
}

/** Waits until the map reports that all tiles of the view are done, after `since` such reports. */
export async function settled(page: Page, since: number): Promise<void> {
  await page.waitForFunction((count) => (globalThis as unknown as { mapState: MapState }).mapState.settled > count, since, {
    timeout: 20_000,
  });
}

/** The colour of one pixel on screen, read from a real screenshot (decoded by the browser itself). */
export async function colourAt(page: Page, x: number, y: number): Promise<number[]> {
  const png = await page.screenshot({ clip: { x, y, width: 1, height: 1 } });
  return page.evaluate(async (base64) => {
    const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob());
    const canvas = new OffscreenCanvas(1, 1);
    const context2d = canvas.getContext('2d')!;
    context2d.drawImage(bitmap, 0, 0);
    return [...context2d.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  }, png.toString('base64'));
}

export function expectTileColour(colour: number[]): void {
  colour.forEach((channel, index) => expect(Math.abs(channel - TILE_COLOUR[index]!)).toBeLessThanOrEqual(8));
}
