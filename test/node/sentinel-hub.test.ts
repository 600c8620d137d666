import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isSessionError, memorySharing } from '../../src/index.js';
import { CDSE, cdse, SENTINEL_HUB, sentinelHub, type ProcessRequest, type SentinelHub } from '../../src/sentinel-hub.js';
import { addSentinelHubRoutes, type SentinelHubStats } from '../support/geo-servers.js';
import { useTokenServer } from '../support/token-server-suite.js';

const INSTANCE = '0b1c2d3e-aaaa-bbbb-cccc-0123456789ab';

const suite = useTokenServer('sh-client', 'sh-secret-do-not-leak');
let stats: SentinelHubStats;

beforeAll(() => {
  stats = addSentinelHubRoutes(suite.server, INSTANCE);
});
afterEach(() => {
  Object.assign(stats, { process: 0, catalog: 0, wmts: 0, unauthorized: 0, lastProcessAccept: undefined, lastCatalogBody: undefined });
});

function connect(overrides: Partial<Parameters<typeof sentinelHub>[0]> = {}): SentinelHub {
  const sh = sentinelHub({
    clientId: suite.client.id,
    clientSecret: suite.client.secret,
    baseUrl: suite.server.origin,
    tokenUrl: suite.server.tokenUrl,
    sharing: memorySharing(),
    ...overrides,
  });
  suite.track(sh);
  return sh;
}

const truecolor: ProcessRequest = {
  input: {
    bounds: { bbox: [13.82, 45.85, 14.56, 46.29], properties: { crs: 'http://www.opengis.net/def/crs/EPSG/0/4326' } },
    data: [{ type: 'sentinel-2-l2a', dataFilter: { timeRange: { from: '2024-06-01T00:00:00Z', to: '2024-06-30T23:59:59Z' } } }],
  },
  output: { width: 512, height: 512 },
  evalscript: '//VERSION=3\nfunction setup(){return {input:["B02","B03","B04"],output:{bands:3}}}\nfunction evaluatePixel(s){return [s.B04,s.B03,s.B02]}',
};

describe('sentinelHub preset', () => {
  it('defaults to the documented Sentinel Hub and CDSE endpoints and a 120 s margin', () => {
    expect(SENTINEL_HUB).toEqual({
      baseUrl: 'https://services.sentinel-hub.com',
      tokenUrl: 'https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token',
    });
    expect(CDSE).toEqual({
      baseUrl: 'https://sh.dataspace.copernicus.eu',
      tokenUrl: 'https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token',
    });
    const sh = sentinelHub({ clientId: 'a', clientSecret: 'b', sharing: memorySharing() });
    const copernicus = cdse({ clientId: 'a', clientSecret: 'b', sharing: memorySharing() });
    suite.track(sh);
    suite.track(copernicus);
    expect([sh.baseUrl, sh.tokenUrl]).toEqual([SENTINEL_HUB.baseUrl, SENTINEL_HUB.tokenUrl]);
    expect([copernicus.baseUrl, copernicus.tokenUrl]).toEqual([CDSE.baseUrl, CDSE.tokenUrl]);
    // No network: sessions authenticate lazily.
    expect(suite.server.stats.tokenRequests).toBe(0);
  });

  it('authenticates once for 30 concurrent Process and Catalog calls, and sends the Bearer token', async () => {
    suite.server.latency = 50;
    const sh = connect();
    let authentications = 0;
    sh.session.on('authenticated', () => authentications++);
    const results = await Promise.all([
      ...Array.from({ length: 15 }, () => sh.process(truecolor)),
      ...Array.from({ length: 15 }, () => sh.catalogSearch({ collections: ['sentinel-2-l2a'], datetime: '2024-06-01T00:00:00Z/2024-06-30T23:59:59Z' })),
    ]);
    expect(suite.server.stats.tokenRequests).toBe(1);
    expect(authentications).toBe(1);
    expect(stats.process).toBe(15);
    expect(stats.catalog).toBe(15);
    expect(stats.unauthorized).toBe(0);
    expect(results[0]).toBeInstanceOf(Blob);
  });

  it('process returns the rendered image as a Blob, with the requested Accept', async () => {
    const sh = connect();
    const png = await sh.process(truecolor);
    expect(png.type).toBe('image/png');
    expect(Buffer.from(await png.arrayBuffer()).subarray(0, 4).toString('hex')).toBe('89504e47');
    const tiff = await sh.process(truecolor, { accept: 'image/tiff' });
    expect(stats.lastProcessAccept).toBe('image/tiff');
    expect(tiff.type).toBe('image/tiff');
  });

  it('catalogSearch returns a validated STAC page and follows context.next', async () => {
    const sh = connect();
    const search = { collections: ['sentinel-2-l2a'], datetime: '2024-06-01T00:00:00Z/2024-06-30T23:59:59Z', bbox: [13, 45, 14, 46], limit: 10 };
    const ids: string[] = [];
    let page = await sh.catalogSearch(search);
    ids.push(...page.features.map((item) => item.id));
    while (page.context?.next !== undefined) {
      page = await sh.catalogSearch({ ...search, next: page.context.next });
      ids.push(...page.features.map((item) => item.id));
    }
    expect(ids).toHaveLength(25);
    expect(new Set(ids).size).toBe(25);
    expect(page.features[0]?.properties.datetime).toBe('2024-06-01T10:00:00Z');
    expect(typeof page.features[0]?.properties['eo:cloud_cover']).toBe('number');
    expect(stats.lastCatalogBody).toMatchObject({ bbox: [13, 45, 14, 46], next: 20 });
    expect(suite.server.stats.tokenRequests).toBe(1);
  });

  it('a malformed Catalog answer is invalid_response naming the field', async () => {
    const sh = connect();
    const error = await sh.catalogSearch({ collections: ['malformed'], datetime: '2024-06-01T00:00:00Z' }).catch((e: unknown) => e);
    expect(isSessionError(error, 'invalid_response')).toBe(true);
    expect((error as Error).message).toContain('features.0');
  });

  it('Sentinel Hub error bodies become api_error with the service code and message', async () => {
    const sh = connect();
    const error = await sh
      .process({ ...truecolor, input: { ...truecolor.input, data: [{ type: 'no-such-collection' }] } })
      .catch((e: unknown) => e);
    expect(isSessionError(error, 'api_error')).toBe(true);
    expect(error).toMatchObject({ status: 400, apiStatus: 'RENDERER_EXCEPTION', apiMessage: 'Unknown collection type: no-such-collection' });
    expect(String(error)).not.toContain(suite.client.secret);
  });

  it('a token the API rejects is refreshed once and the call retried', async () => {
    const sh = connect();
    await sh.process(truecolor);
    suite.server.revokeAll();
    await Promise.all(Array.from({ length: 5 }, () => sh.process(truecolor)));
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('wmtsTileUrl builds an XYZ template the WMTS service answers', async () => {
    const sh = connect();
    const template = sh.wmtsTileUrl({ instanceId: INSTANCE, layer: 'TRUE-COLOR', time: '2024-06-01/2024-06-30', maxcc: 20 });
    expect(template).toContain(`${suite.server.origin}/ogc/wmts/${INSTANCE}?`);
    expect(template).toContain('TILEMATRIX={z}&TILEROW={y}&TILECOL={x}');
    const url = new URL(template.replace('{z}', '12').replace('{x}', '2200').replace('{y}', '1460'));
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ LAYER: 'TRUE-COLOR', TIME: '2024-06-01/2024-06-30', MAXCC: '20', TILEMATRIXSET: 'PopularWebMercator256' });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    // OGC tiles are authorised by the instance id: no token was needed.
    expect(suite.server.stats.tokenRequests).toBe(0);
    expect(() => sh.wmtsTileUrl({ instanceId: '../x', layer: 'A' })).toThrow(/instanceId/);
    expect(() => sh.wmtsTileUrl({ instanceId: INSTANCE, layer: 'A', maxcc: 101 })).toThrow(/maxcc/);
  });

  it('refuses bad options with invalid_options, never echoing the secret', () => {
    const attempt = (options: Partial<Parameters<typeof sentinelHub>[0]>) => () =>
      sentinelHub({ clientId: 'id', clientSecret: 'top-secret', sharing: memorySharing(), ...options });
    expect(attempt({ baseUrl: 'not a url' })).toThrow(expect.objectContaining({ code: 'invalid_options' }) as Error);
    expect(attempt({ tokenUrl: '/relative' })).toThrow(expect.objectContaining({ code: 'invalid_options' }) as Error);
    expect(attempt({ clientId: '' })).toThrow(/clientId/);
    expect(attempt({ clientId: '' })).not.toThrow(/top-secret/);
  });
});
