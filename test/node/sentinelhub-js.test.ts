import * as shjs from '@sentinel-hub/sentinelhub-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { memorySharing } from '../../src/index.js';
import { authenticateSentinelHubJs, sentinelHub } from '../../src/sentinel-hub.js';
import { addSentinelHubRoutes, type SentinelHubStats } from '../support/geo-servers.js';
import { useTokenServer } from '../support/token-server-suite.js';

/*
 * The README recipe "sentinelhub-js with our session", driving the real @sentinel-hub/sentinelhub-js (its Processing
 * API `getMap`, axios underneath) against the local Sentinel Hub stand-in: every request carries the session's token,
 * and still a valid one after the token it was given has expired.
 */
const suite = useTokenServer('shjs-app');
let stats: SentinelHubStats;

beforeAll(() => {
  stats = addSentinelHubRoutes(suite.server, '0b1c2d3e-aaaa-bbbb-cccc-0123456789ab');
  // sentinelhub-js talks to services.sentinel-hub.com: sent to the stand-in instead (test plumbing only).
  shjs.addAxiosRequestInterceptor((config: { url?: string }) => {
    if (config.url !== undefined) config.url = config.url.replace('https://services.sentinel-hub.com/', `${suite.server.origin}/`);
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

describe('sentinelhub-js authenticated by the session', () => {
  it('getMap through the Processing API, before and after the first token expired', async () => {
    suite.server.lifetime = 2; // seconds: the session replaces it after 1 s (half its lifetime)
    const sh = suite.track(sentinelHub({ clientId: suite.client.id, clientSecret: suite.client.secret, tokenUrl: suite.server.tokenUrl, baseUrl: suite.server.origin, sharing: memorySharing() }));
    const stop = await authenticateSentinelHubJs(sh.session, shjs);
    try {
      const layer = new shjs.S2L2ALayer({ evalscript });
      const first = await layer.getMap(params, shjs.ApiType.PROCESSING, { cache: { expiresIn: 0 } });
      expect(first).toBeTruthy();
      expect(stats.process).toBe(1);
      // Past the first token's expiry: whatever sentinelhub-js was last given, the request leaves with a valid token.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      await layer.getMap(params, shjs.ApiType.PROCESSING, { cache: { expiresIn: 0 } });
      expect(stats.process).toBe(2);
      expect(stats.unauthorized).toBe(0);
      expect(suite.server.stats.tokenRequests).toBeGreaterThanOrEqual(2);
    } finally {
      stop();
    }
  }, 30_000);

  it('a token the app passes in reqConfig.authToken is left alone', async () => {
    const sh = suite.track(sentinelHub({ clientId: suite.client.id, clientSecret: suite.client.secret, tokenUrl: suite.server.tokenUrl, baseUrl: suite.server.origin, sharing: memorySharing() }));
    const stop = await authenticateSentinelHubJs(sh.session, shjs);
    try {
      const before = stats.unauthorized;
      const layer = new shjs.S2L2ALayer({ evalscript });
      await expect(layer.getMap(params, shjs.ApiType.PROCESSING, { authToken: 'the-apps-own-token', cache: { expiresIn: 0 } })).rejects.toBeTruthy();
      expect(stats.unauthorized).toBe(before + 1);
    } finally {
      stop();
    }
  }, 30_000);

  it('a sign-out unsets the token: sentinelhub-js refuses to send a request', async () => {
    const sh = suite.track(sentinelHub({ clientId: suite.client.id, clientSecret: suite.client.secret, tokenUrl: suite.server.tokenUrl, baseUrl: suite.server.origin, sharing: memorySharing() }));
    const stop = await authenticateSentinelHubJs(sh.session, shjs);
    try {
      await sh.session.clear();
      expect(shjs.isAuthTokenSet()).toBe(false);
      await expect(new shjs.S2L2ALayer({ evalscript }).getMap(params, shjs.ApiType.PROCESSING, { cache: { expiresIn: 0 } })).rejects.toThrow(/authenticated/);
    } finally {
      stop();
    }
  }, 30_000);
});
