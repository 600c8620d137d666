import ee from '@google/earthengine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateEarthEngineJs, earthEngine, googleRefreshToken, type EarthEngine, type EarthEngineExpression } from '../../src/earth-engine.js';
import { isSessionError, memorySharing } from '../../src/index.js';
import { startEarthEngineServer, type EarthEngineServer } from '../support/geo-servers.js';
import { useTokenServer } from '../support/token-server-suite.js';

/*
 * The README recipe "Earth Engine's JavaScript client with this session", driving the real @google/earthengine
 * (ee.initialize, getInfo) against the local Earth Engine stand-in, fed by the preset's session: it keeps working
 * after the first token expired (ee-client calls the refresher). And the preset retries 429 on its POSTs
 * (getInfo, getMapId) as ee-client does.
 */
const suite = useTokenServer('1234.apps.googleusercontent.com', 'GOCSPX-ee-js');
let server: EarthEngineServer;
beforeAll(async () => {
  server = await startEarthEngineServer((token) => suite.server.isValid(token));
});
afterAll(() => server.close());

function connect(): EarthEngine {
  return suite.track(
    earthEngine({
      provider: googleRefreshToken({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, clientSecret: suite.client.secret, refreshToken: suite.server.issueRefreshToken(suite.client.id) }),
      project: 'ee-alice',
      baseUrl: server.baseUrl,
      sharing: memorySharing(),
    }),
  );
}

const getInfo = (value: { getInfo(callback: (value: unknown, error?: unknown) => void): void }): Promise<unknown> =>
  new Promise((resolve, reject) => value.getInfo((result, error) => (error ? reject(new Error(String(error))) : resolve(result))));

const onePlusTwo: EarthEngineExpression = {
  result: '0',
  values: { '0': { functionInvocationValue: { functionName: 'Number.add', arguments: { left: { constantValue: 1 }, right: { constantValue: 2 } } } } },
};

describe('@google/earthengine fed by the session', () => {
  it('ee.initialize and getInfo, before and after the first token expired', async () => {
    suite.server.lifetime = 2;
    const preset = connect();
    const stop = await authenticateEarthEngineJs(preset.session, ee.data);
    try {
      await new Promise<void>((resolve, reject) => ee.initialize(`${server.origin}/api`, null, () => resolve(), (error: unknown) => reject(new Error(String(error))), null, 'ee-alice'));
      expect(await getInfo(ee.Number(1).add(2))).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(await getInfo(ee.Number(2).add(2))).toBe(4);
      // The preset and ee-client share one session: its token, whichever client asks.
      expect(await preset.operations.getInfo(onePlusTwo)).toBe(3);
      const tokens = server.calls.map((call) => call.token);
      expect(tokens.every((token) => token !== '')).toBe(true);
      expect(new Set(tokens).size).toBeGreaterThanOrEqual(2); // a renewed token was used
      expect(suite.server.stats.apiUnauthorized).toBe(0);
    } finally {
      stop();
    }
  }, 30_000);

  it('an empty client id is refused: ee-client would never call the refresher', async () => {
    const preset = connect();
    await expect(authenticateEarthEngineJs(preset.session, ee.data, { clientId: '' })).rejects.toSatisfy((error) => isSessionError(error, 'invalid_options'));
  });
});

describe('the preset retries 429 as ee-client does', () => {
  it('getInfo (POST value:compute) after a 429', async () => {
    const preset = connect();
    await preset.session.getToken();
    server.calls.length = 0;
    server.rateLimitNext = 1;
    expect(await preset.operations.getInfo(onePlusTwo)).toBe(3);
    expect(server.calls.filter((call) => call.path.endsWith('value:compute'))).toHaveLength(2);
  }, 30_000);

  it('getMapId (POST maps) after a 429', async () => {
    const preset = connect();
    await preset.session.getToken();
    server.calls.length = 0;
    server.rateLimitNext = 1;
    const image: EarthEngineExpression = { result: '0', values: { '0': { constantValue: 1 } } };
    const map = await preset.operations.getMapId(image);
    expect(map.name).toMatch(/^projects\/ee-alice\/maps\//);
    expect(server.calls.filter((call) => call.path.endsWith('/maps'))).toHaveLength(2);
  }, 30_000);
});
