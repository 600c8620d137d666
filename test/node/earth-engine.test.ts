import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  assetName,
  earthEngine,
  GOOGLE_TOKEN_URL,
  googleAccessToken,
  googleRefreshToken,
  type EarthEngine,
  type EarthEngineExpression,
} from '../../src/earth-engine.js';
import { createSession, isSessionError, memorySharing } from '../../src/index.js';
import { startEarthEngineServer, type EarthEngineServer } from '../support/geo-servers.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('1234.apps.googleusercontent.com', 'GOCSPX-do-not-leak');
let ee: EarthEngineServer;

beforeAll(async () => {
  ee = await startEarthEngineServer((token) => suite.server.isValid(token));
});
afterAll(() => ee.close());
afterEach(() => ee.reset());

function connect(project = 'ee-alice'): EarthEngine {
  const client = earthEngine({
    provider: googleRefreshToken({
      tokenUrl: suite.server.tokenUrl,
      clientId: suite.client.id,
      clientSecret: suite.client.secret,
      refreshToken: suite.server.issueRefreshToken(suite.client.id),
    }),
    project,
    baseUrl: ee.baseUrl,
    sharing: memorySharing(),
  });
  suite.track(client);
  return client;
}

// What `ee.Serializer.encodeCloudApi(ee.Number(1).add(2))` produces.
const onePlusTwo: EarthEngineExpression = {
  result: '0',
  values: {
    '0': {
      functionInvocationValue: {
        functionName: 'Number.add',
        arguments: { left: { constantValue: 1 }, right: { constantValue: 2 } },
      },
    },
  },
};

const image: EarthEngineExpression = {
  result: '0',
  values: { '0': { functionInvocationValue: { functionName: 'Image.load', arguments: { id: { constantValue: 'USGS/SRTMGL1_003' } } } } },
};

describe('earthEngine preset', () => {
  it('Google defaults: the token endpoint and the v1 REST root', () => {
    expect(GOOGLE_TOKEN_URL).toBe('https://oauth2.googleapis.com/token');
    const client = earthEngine({ provider: googleAccessToken({ accessToken: 'ya29.x' }), project: 'projects/p-1', sharing: memorySharing() });
    suite.track(client);
    expect(client.baseUrl).toBe('https://earthengine.googleapis.com/v1');
    expect(client.project).toBe('p-1');
  });

  it('getInfo computes value:compute and returns the parsed result; 25 concurrent calls authenticate once', async () => {
    suite.server.latency = 50;
    const client = connect();
    const results = await Promise.all(Array.from({ length: 25 }, () => client.operations.getInfo<number>(onePlusTwo)));
    expect(results).toEqual(Array.from({ length: 25 }, () => 3));
    expect(suite.server.stats.tokenRequests).toBe(1);
    const computes = ee.calls.filter((call) => call.path === '/v1/projects/ee-alice/value:compute');
    expect(computes).toHaveLength(25);
    // Bearer token from the Google grant, and the project as the quota project.
    expect(computes.every((call) => suite.server.isValid(call.token) && call.userProject === 'ee-alice')).toBe(true);
  });

  it('getInfo takes the JSON string of ee.Serializer.toCloudApiJSON, and structured results', async () => {
    const client = connect();
    const list = {
      result: 'r',
      values: {
        a: { constantValue: [1, 2, 3] },
        r: { dictionaryValue: { values: { size: { functionInvocationValue: { functionName: 'List.size', arguments: { list: { valueReference: 'a' } } } }, name: { constantValue: 'x' } } } },
      },
    };
    expect(await client.operations.getInfo(JSON.stringify(list))).toEqual({ size: 3, name: 'x' });
    expect(await client.operations.getInfo({ result: '0', values: { '0': { constantValue: null } } })).toBeNull();
  });

  it('getMapId creates a map and returns its name and a tile URL template that serves tiles with the token', async () => {
    const client = connect();
    const map = await client.operations.getMapId(image, { bands: 'elevation', min: 0, max: 3000, palette: '000000, ffffff', format: 'png' });
    expect(map.name).toMatch(/^projects\/ee-alice\/maps\/[\w-]+$/);
    expect(map.tileUrl).toBe(`${ee.baseUrl}/${map.name}/tiles/{z}/{x}/{y}`);
    const tile = map.tileUrl.replace('{z}', '3').replace('{x}', '4').replace('{y}', '2');
    const { accessToken } = await client.session.getToken();
    expect((await fetch(tile)).status).toBe(401);
    const response = await fetch(tile, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
  });

  it('getMapId maps vis params to the REST fields (one range per band, palette, format)', async () => {
    const client = connect();
    let sent: unknown;
    const spying = earthEngine({
      session: client.session,
      project: 'ee-alice',
      baseUrl: ee.baseUrl,
      client: { hooks: { beforeRequest: [async (request) => void (sent = await request.clone().json())] } },
    });
    await spying.operations.getMapId(image, { bands: ['B4', 'B3', 'B2'], min: [0, 0, 0], max: [3000, 2500, 2000], gamma: 1.4 });
    expect(sent).toEqual({
      expression: image,
      bandIds: ['B4', 'B3', 'B2'],
      visualizationOptions: { ranges: [{ min: 0, max: 3000 }, { min: 0, max: 2500 }, { min: 0, max: 2000 }], gamma: 1.4 },
    });
    await expect(spying.operations.getMapId(image, { min: 0 })).rejects.toMatchObject({ code: 'invalid_options' });
    await expect(spying.operations.getMapId(image, { bands: ['a', 'b'], min: [0, 1], max: [1, 2, 3] })).rejects.toMatchObject({
      code: 'invalid_options',
    });
  });

  it('getAsset resolves ids to resource names as the client libraries do, and returns the validated asset', async () => {
    expect(assetName('COPERNICUS/S2_SR')).toBe('projects/earthengine-public/assets/COPERNICUS/S2_SR');
    expect(assetName('users/alice/fields')).toBe('projects/earthengine-legacy/assets/users/alice/fields');
    expect(assetName('projects/ee-alice/assets/dem')).toBe('projects/ee-alice/assets/dem');
    expect(assetName('projects/old-style/dem')).toBe('projects/earthengine-legacy/assets/projects/old-style/dem');
    expect(() => assetName('users/../../secrets')).toThrow(/assetId/);

    const client = connect();
    const collection = await client.operations.getAsset('COPERNICUS/S2_SR');
    expect(collection).toMatchObject({ type: 'IMAGE_COLLECTION', name: 'projects/earthengine-public/assets/COPERNICUS/S2_SR' });
    const table = await client.operations.getAsset('users/alice/fields');
    expect(table).toMatchObject({ type: 'TABLE', featureCount: '12' });
    const dem = await client.operations.getAsset('projects/ee-alice/assets/dem');
    expect(dem.bands?.[0]?.id).toBe('elevation');
    expect(suite.server.stats.tokenRequests).toBe(1);
  });

  it('Google API errors become api_error with the Google status and message', async () => {
    const client = connect();
    const missing = await client.operations.getAsset('users/alice/nothing-here').catch((e: unknown) => e);
    expect(isSessionError(missing, 'api_error')).toBe(true);
    expect(missing).toMatchObject({ status: 404, apiStatus: 'NOT_FOUND' });
    expect((missing as { apiMessage: string }).apiMessage).toContain('users/alice/nothing-here');

    const bad = await client.operations
      .getInfo({ result: '0', values: { '0': { functionInvocationValue: { functionName: 'Image.frobnicate', arguments: {} } } } })
      .catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'api_error', status: 400, apiStatus: 'INVALID_ARGUMENT', apiMessage: 'Unknown function: Image.frobnicate' });
    expect((bad as Error).message).toBe('Earth Engine refused the request: INVALID_ARGUMENT (400): Unknown function: Image.frobnicate');
    const { accessToken } = await client.session.getToken();
    expect(JSON.stringify(bad) + String(bad) + String((bad as Error).stack)).not.toContain(accessToken);
  });

  it('an expired Google token is refreshed once for concurrent calls (401 → refresh → retry)', async () => {
    const client = connect();
    await client.operations.getInfo(onePlusTwo);
    suite.server.revokeAll();
    const results = await Promise.all(Array.from({ length: 10 }, () => client.operations.getInfo(onePlusTwo)));
    expect(results.every((value) => value === 3)).toBe(true);
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('a user-supplied access token works, and is never refreshed', async () => {
    const session = createSession({
      provider: googleRefreshToken({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, refreshToken: suite.server.issueRefreshToken(suite.client.id), clientSecret: suite.client.secret }),
      sharing: memorySharing(),
    });
    const { accessToken, expiresAt } = await session.getToken();
    await session.close();
    const client = earthEngine({ provider: googleAccessToken({ accessToken, expiresAt }), project: 'ee-alice', baseUrl: ee.baseUrl, sharing: memorySharing() });
    suite.track(client);
    expect(await client.operations.getInfo(onePlusTwo)).toBe(3);
    suite.server.revokeAll();
    // Rejected by the API and nothing to refresh with: one retry, then token_rejected (no loop).
    await expect(client.operations.getInfo(onePlusTwo)).rejects.toMatchObject({ code: 'token_rejected' });
    const expired = earthEngine({
      provider: googleAccessToken({ accessToken, expiresAt: Date.now() - 1000, key: 'expired' }),
      project: 'ee-alice',
      baseUrl: ee.baseUrl,
      sharing: memorySharing(),
    });
    suite.track(expired);
    await expect(expired.operations.getInfo(onePlusTwo)).rejects.toMatchObject({ code: 'token_expired' });
  });

  it('a session passed in stays open after close(); bad input is invalid_options', async () => {
    const owner = connect();
    const borrowed = earthEngine({ session: owner.session, project: 'ee-alice', baseUrl: ee.baseUrl });
    await borrowed.close();
    expect(await owner.operations.getInfo(onePlusTwo)).toBe(3);
    await expect(owner.operations.getInfo('{not json')).rejects.toMatchObject({ code: 'invalid_options' });
    await expect(owner.operations.getInfo({ values: {} } as unknown as EarthEngineExpression)).rejects.toMatchObject({ code: 'invalid_options' });
    expect(() => earthEngine({ session: owner.session, project: 'Bad Project!' })).toThrow(/project/);
    expect(() => earthEngine({ project: 'p' } as never)).toThrow(/provider or a session/);
  });
});
