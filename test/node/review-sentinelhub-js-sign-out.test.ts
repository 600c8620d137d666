import * as shjs from '@sentinel-hub/sentinelhub-js';
import { beforeAll, expect, it } from 'vitest';
import { memorySharing } from '../../src/index.js';
import { authenticateSentinelHubJs, sentinelHub } from '../../src/sentinel-hub.js';
import { addSentinelHubRoutes } from '../support/geo-servers.js';
import { useTokenServer } from '../support/token-server-suite.js';

// README: "a sign-out reaches every context and nothing issued before it is handed out anywhere, ever";
// authenticateSentinelHubJs: "A sign-out (`session.clear()`) unsets the token". A request sentinelhub-js built with the
// token just before the sign-out (its headers are set when the request is built; axios runs the interceptors later,
// after any await in between) left with the signed-out token: on `cleared` the adapter forgot the tokens it gave, so
// its interceptor no longer recognised that one and let it through untouched.

const suite = useTokenServer('shjs-review');
const sent: string[] = [];
let signOutNext: (() => Promise<void>) | undefined;

beforeAll(() => {
  addSentinelHubRoutes(suite.server, '0b1c2d3e-aaaa-bbbb-cccc-0123456789ab');
  // axios runs request interceptors last-added first: this one sees the request as it leaves.
  shjs.addAxiosRequestInterceptor((config: { url?: string; headers?: { get?(name: string): unknown } }) => {
    if (config.url !== undefined) config.url = config.url.replace('https://services.sentinel-hub.com/', `${suite.server.origin}/`);
    sent.push(String(config.headers?.get?.('authorization') ?? ''));
    return config;
  });
});

const evalscript = '//VERSION=3\nfunction setup(){return {input:["B04"],output:{bands:1}}}\nfunction evaluatePixel(s){return [s.B04]}';
const params = {
  bbox: new shjs.BBox(shjs.CRS_EPSG4326, 13.82, 45.85, 14.56, 46.29),
  fromTime: new Date('2024-06-01T00:00:00Z'),
  toTime: new Date('2024-06-30T23:59:59Z'),
  width: 64,
  height: 64,
  format: shjs.MimeTypes.PNG,
};

it('a request built just before a sign-out does not leave with the signed-out token', async () => {
  const sh = suite.track(sentinelHub({ clientId: suite.client.id, clientSecret: suite.client.secret, tokenUrl: suite.server.tokenUrl, baseUrl: suite.server.origin, sharing: memorySharing() }));
  const stop = await authenticateSentinelHubJs(sh.session, shjs);
  // Added after the adapter's, so it runs before it: the sign-out lands between building and sending.
  shjs.addAxiosRequestInterceptor((async (config: unknown) => {
    const signOut = signOutNext;
    signOutNext = undefined;
    await signOut?.();
    return config;
  }) as never);
  try {
    const before = (await sh.session.getToken()).accessToken;
    signOutNext = () => sh.session.clear();
    await new shjs.S2L2ALayer({ evalscript }).getMap(params, shjs.ApiType.PROCESSING, { cache: { expiresIn: 0 } }).catch(() => undefined);
    expect(sent.length).toBeGreaterThan(0);
    // Observed: [`Bearer ${before}`].
    expect(sent).not.toContain(`Bearer ${before}`);
  } finally {
    stop();
  }
}, 30_000);
