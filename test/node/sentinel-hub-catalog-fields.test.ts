import { text as readBody } from 'node:stream/consumers';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memorySharing } from '../../src/index.js';
import { sentinelHub, type SentinelHub } from '../../src/sentinel-hub.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let client: { id: string; secret: string };
let sh: SentinelHub;

/**
 * A Catalog that honours the STAC API Fields extension the way Sentinel Hub documents it (its own OpenAPI example:
 * `fields: { include: ['id','type','bbox','properties'], exclude: ['geometry','links','assets'] }` answers items with
 * bbox, id, type and properties only).
 */
beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('stac-user');
  server.route(async (req, res, url) => {
    if (url.pathname !== '/api/v1/catalog/1.0.0/search' || req.method !== 'POST') return false;
    const body = JSON.parse(await readBody(req)) as { collections?: string[]; fields?: { include?: string[]; exclude?: string[] } };
    if (!server.isValid((req.headers.authorization ?? '').slice(7))) {
      res.writeHead(401).end();
      return true;
    }
    const item: Record<string, unknown> = {
      type: 'Feature',
      id: 'S2B_MSIL2A_20201229T101329_N0214_R022_T33TUK_20201229T115442',
      bbox: [12.45, 44.13, 13.55, 45.14],
      geometry: { type: 'Polygon', coordinates: [[[13, 45], [14, 45], [14, 46], [13, 46], [13, 45]]] },
      properties: { datetime: '2020-12-29T10:18:19Z', 'eo:cloud_cover': 93.93, platform: 'sentinel-2b' },
      assets: { data: { href: 's3://bucket/x' } },
      links: [{ href: 'https://example.test/items/x', rel: 'self' }],
    };
    if (body.collections?.includes('wrong-types') === true) {
      // Partial, and what is there has the wrong type.
      res.writeHead(200, { 'content-type': 'application/geo+json' });
      res.end(JSON.stringify({ type: 'FeatureCollection', features: [{ id: 'x', properties: { datetime: 20201229 } }] }));
      return true;
    }
    for (const field of body.fields?.exclude ?? []) {
      const [top, nested] = field.split('.');
      if (nested === undefined) delete item[top!];
      else delete (item[top!] as Record<string, unknown>)[nested];
    }
    res.writeHead(200, { 'content-type': 'application/geo+json' });
    res.end(JSON.stringify({ type: 'FeatureCollection', features: [item], context: { limit: 1, returned: 1 } }));
    return true;
  });
});
afterAll(() => server.close());
afterEach(async () => {
  await sh?.close();
  server.reset();
});

function connect(): SentinelHub {
  sh = sentinelHub({ clientId: client.id, clientSecret: client.secret, tokenUrl: server.tokenUrl, baseUrl: server.origin, sharing: memorySharing() });
  return sh;
}

describe('catalogSearch with the STAC API Fields extension (partial items)', () => {
  it("Sentinel Hub's documented example (exclude geometry, links, assets) is a valid page", async () => {
    const outcome = await connect()
      .catalogSearch({
        collections: ['sentinel-2-l2a'],
        bbox: [13, 45, 14, 46],
        datetime: '2020-12-10T00:00:00Z/2020-12-30T00:00:00Z',
        fields: { include: ['id', 'type', 'bbox', 'properties'], exclude: ['geometry', 'links', 'assets'] },
        limit: 1,
      })
      .then(
        (page) => page.features.map((feature) => feature.id),
        (error: unknown) => `${(error as { code?: string }).code}: ${(error as Error).message}`,
      );
    // (Before the fix: "invalid_response: Sentinel Hub Catalog answered with an unexpected body (features.0.geometry)".)
    expect(outcome).toEqual(['S2B_MSIL2A_20201229T101329_N0214_R022_T33TUK_20201229T115442']);
  });

  it("the Fields example of Sentinel Hub's schema (exclude geometry and properties.datetime) is a valid page", async () => {
    const outcome = await connect()
      .catalogSearch({
        collections: ['sentinel-2-l2a'],
        datetime: '2020-12-10T00:00:00Z/2020-12-30T00:00:00Z',
        fields: { include: ['id', 'properties.eo:cloud_cover'], exclude: ['geometry', 'properties.datetime'] },
      })
      .then(
        (page) => page.features.length,
        (error: unknown) => `${(error as { code?: string }).code}: ${(error as Error).message}`,
      );
    expect(outcome).toBe(1);
  });

  it('with fields, the fields present are still validated; without fields, a partial item is still refused', async () => {
    const sh = connect();
    const wrong = await sh
      .catalogSearch({ collections: ['wrong-types'], datetime: '2020-12-10T00:00:00Z', fields: { include: ['id', 'properties.datetime'] } })
      .catch((error: unknown) => error);
    expect(wrong).toMatchObject({ name: 'SessionError', code: 'invalid_response' });
    expect((wrong as Error).message).toContain('features.0.properties.datetime');
    const whole = await sh.catalogSearch({ collections: ['wrong-types'], datetime: '2020-12-10T00:00:00Z' }).catch((error: unknown) => error);
    expect(whole).toMatchObject({ name: 'SessionError', code: 'invalid_response' });
  });
});
