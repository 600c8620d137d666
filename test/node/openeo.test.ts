import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, fetchWithToken } from '../../src/client.js';
import { clientCredentials, createSession, customProvider, memorySharing, type TokenProvider } from '../../src/index.js';
import { openEO, OpenEOError, type OpenEO, type OpenEOProcessGraph } from '../../src/openeo.js';
import { OPENEO_BASIC_USER, startOpenEOServer, type OpenEOServer } from '../support/openeo-server.js';
import { useTokenServer } from '../support/token-server-suite.js';
import { failure } from '../support/failure.js';

const CDSE_ISSUER = 'https://identity.dataspace.example/auth/realms/CDSE';
const EGI_ISSUER = 'https://aai.egi.example/auth/realms/egi/';

const suite = useTokenServer('cdse-openeo-client', 'cdse-secret-never-logged');
let backend: OpenEOServer;
const open: OpenEO[] = [];

beforeAll(async () => {
  backend = await startOpenEOServer((minted) => [
    // CDSE: minted JWT-shaped tokens, and the opaque ones of the token server (client credentials).
    { id: 'CDSE', issuer: CDSE_ISSUER, title: 'Copernicus Data Space', isValid: (token) => minted(token) || suite.server.isValid(token) },
    { id: 'egi', issuer: EGI_ISSUER, title: 'EGI Check-in', isValid: minted },
  ]);
});
afterAll(() => backend.close());
afterEach(async () => {
  await Promise.all(open.splice(0).map((each) => each.close()));
  backend.reset();
});

/** A provider whose tokens are JWTs from `issuer` (as Keycloak's are), counting its token requests. */
function minting(issuer: string): TokenProvider & { readonly requests: number } {
  const state = { requests: 0 };
  const provider = customProvider({
    key: `minting:${issuer}`,
    fetchToken: async () => {
      state.requests++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      const now = Date.now();
      return { accessToken: backend.mint(issuer), tokenType: 'Bearer', issuedAt: now, expiresAt: now + 600_000 };
    },
  });
  return Object.defineProperty(provider, 'requests', { get: () => state.requests }) as TokenProvider & { readonly requests: number };
}

function connect(options: Omit<Parameters<typeof openEO>[0], 'url'>): OpenEO {
  const created = openEO({ url: backend.url, sharing: memorySharing(), ...options } as Parameters<typeof openEO>[0]);
  open.push(created);
  return created;
}


const ndvi: OpenEOProcessGraph = {
  load: { process_id: 'load_collection', arguments: { id: 'SENTINEL2_L2A', spatial_extent: { west: 5, south: 51, east: 5.1, north: 51.1 }, bands: ['B04', 'B08'] } },
  ndvi: { process_id: 'ndvi', arguments: { data: { from_node: 'load' }, nir: 'B08', red: 'B04' } },
  save: { process_id: 'save_result', arguments: { data: { from_node: 'ndvi' }, format: 'PNG' }, result: true },
};

describe('openEO preset against a local back-end', () => {
  it('bearer oidc/<id>/<token>, the id discovered from the token\'s issuer; 20 concurrent calls → 1 discovery, 1 token', async () => {
    const provider = minting(CDSE_ISSUER);
    const eo = connect({ provider });
    const responses = await Promise.all(Array.from({ length: 20 }, () => eo.fetch('me')));
    expect(responses.map((response) => response.status)).toEqual(Array.from({ length: 20 }, () => 200));
    expect(await responses[0]!.json()).toEqual({ user_id: 'oidc:CDSE', name: 'Alice' });
    const { accessToken } = await eo.session.getToken();
    expect(backend.authorizations.map((each) => each.authorization)).toEqual(Array.from({ length: 20 }, () => `Bearer oidc/CDSE/${accessToken}`));
    expect(backend.stats.discovery).toBe(1);
    expect(provider.requests).toBe(1);
    expect(await eo.providerId()).toBe('CDSE');
  });

  it('another issuer picks its own provider (trailing slash or not); `/me` and absolute URLs under the root work', async () => {
    const eo = connect({ provider: minting(EGI_ISSUER.replace(/\/$/, '')) });
    expect((await eo.fetch('/me')).status).toBe(200);
    expect((await eo.fetch(`${backend.url}/me`)).status).toBe(200);
    expect(backend.authorizations[0]!.authorization).toMatch(/^Bearer oidc\/egi\/ey/);
    await expect(eo.fetch('http://127.0.0.1:1/elsewhere')).rejects.toMatchObject({ code: 'invalid_options' });
  });

  it('providerId given: no discovery; clientCredentials (opaque tokens, as CDSE\'s client credentials) work', async () => {
    const eo = connect({
      provider: clientCredentials({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, clientSecret: suite.client.secret }),
      providerId: 'CDSE',
    });
    expect((await eo.fetch('me')).status).toBe(200);
    expect(backend.stats.discovery).toBe(0);
    expect(backend.authorizations[0]!.authorization).toBe(`Bearer oidc/CDSE/${(await eo.session.getToken()).accessToken}`);
  });

  it('an opaque token and several providers: invalid_options naming the provider ids, not the token', async () => {
    const eo = connect({ provider: clientCredentials({ tokenUrl: suite.server.tokenUrl, clientId: suite.client.id, clientSecret: suite.client.secret }) });
    const error = await failure(eo.fetch('me'));
    expect(error.code).toBe('invalid_options');
    expect(error.message).toContain('CDSE, egi');
    expect(error.message).not.toContain((await eo.session.getToken()).accessToken);
  });

  for (const mode of ['403 TokenInvalid', '401'] as const) {
    it(`${mode} on an expired token → one refresh for 30 concurrent calls, each retried once`, async () => {
      backend.rejectWith401 = mode === '401';
      const provider = minting(CDSE_ISSUER);
      const eo = connect({ provider });
      await eo.fetch('me');
      backend.revokeMinted();
      const [responses, collections] = await Promise.all([
        Promise.all(Array.from({ length: 15 }, () => eo.fetch('me'))),
        Promise.all(Array.from({ length: 15 }, () => eo.jobs.list())),
      ]);
      expect(responses.every((response) => response.status === 200)).toBe(true);
      expect(collections.every((page) => Array.isArray(page.jobs))).toBe(true);
      expect(provider.requests).toBe(2);
      expect(backend.stats.rejected).toBe(30);
    });
  }

  it('a token refused again after the refresh → token_rejected (no loop)', async () => {
    const never = customProvider({
      key: 'never-valid',
      // A new token each time (so the session does refresh), none of which the back-end knows.
      fetchToken: async () => ({ accessToken: `${backend.mint(CDSE_ISSUER)}x`, tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 600_000 }),
    });
    const eo = connect({ provider: never });
    const error = await failure(eo.fetch('me'));
    expect(error).toMatchObject({ code: 'token_rejected', status: 401 });
    expect(backend.stats.rejected).toBe(2);
    expect((await failure(eo.capabilities().then(() => eo.jobs.list()))).code).toBe('token_rejected');
  });

  it('typed calls: capabilities, collections, a collection, a synchronous result, batch jobs', async () => {
    const eo = connect({ provider: minting(CDSE_ISSUER) });
    const capabilities = await eo.capabilities();
    expect(capabilities).toMatchObject({ api_version: '1.2.0', id: 'stand-in' });
    expect(capabilities.endpoints.some((endpoint) => endpoint.path === '/jobs')).toBe(true);
    const { collections } = await eo.collections();
    expect(collections.map((each) => each.id)).toEqual(['SENTINEL2_L2A', 'COPERNICUS_30']);
    expect((await eo.collection('SENTINEL2_L2A'))['cube:dimensions']).toBeDefined();
    const png = await eo.result(ndvi);
    expect(png.type).toBe('image/png');
    expect(new Uint8Array(await png.arrayBuffer()).slice(0, 4)).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    const { id } = await eo.jobs.create({ process_graph: ndvi }, { title: 'NDVI' });
    expect(id).toMatch(/^j-/);
    expect(await eo.jobs.get(id)).toMatchObject({ id, status: 'created', title: 'NDVI' });
    await eo.jobs.start(id);
    expect((await eo.jobs.list()).jobs).toEqual([expect.objectContaining({ id, status: 'finished' })]);
    const results = await eo.jobs.results(id);
    expect(Object.keys(results.assets)).toEqual(['openEO.tif']);
    await eo.jobs.cancel(id);
    await eo.jobs.delete(id);
    expect((await eo.jobs.list()).jobs).toEqual([]);
  });

  it('openEO error bodies → OpenEOError (api_error) with code, message and the request id', async () => {
    const eo = connect({ provider: minting(CDSE_ISSUER) });
    const missing = await failure(eo.collection('NOPE'));
    expect(missing).toBeInstanceOf(OpenEOError);
    expect(missing).toMatchObject({ code: 'api_error', status: 404, apiStatus: 'CollectionNotFound', openEOCode: 'CollectionNotFound', apiMessage: "Collection 'NOPE' does not exist." });
    expect((missing as OpenEOError).requestId).toMatch(/^[\da-f-]{36}$/);
    expect((missing as OpenEOError).links?.[0]?.href).toContain('CollectionNotFound');
    const invalid = await failure(eo.result({ a: { process_id: 'add', arguments: { x: 1, y: 2 } } }));
    expect(invalid).toMatchObject({ code: 'api_error', status: 400, apiStatus: 'ProcessGraphInvalid' });
    const notFinished = await failure(eo.jobs.create(ndvi).then(({ id }) => eo.jobs.results(id)));
    expect(notFinished).toMatchObject({ apiStatus: 'JobNotFinished', status: 400 });
    expect((await failure(eo.jobs.get('j-unknown'))).message).toBe('openEO refused the request: JobNotFound (404): The batch job does not exist.');
    expect((await failure(Promise.resolve().then(() => eo.result({} as OpenEOProcessGraph)))).code).toBe('invalid_options');
  });

  it('basic credentials: GET /credentials/basic once, then Bearer basic//<token>; a wrong password → invalid_client', async () => {
    const eo = connect({ basic: OPENEO_BASIC_USER });
    const responses = await Promise.all(Array.from({ length: 10 }, () => eo.fetch('me')));
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(backend.stats.basicLogins).toBe(1);
    expect(backend.authorizations[0]!.authorization).toBe(`Bearer basic//${(await eo.session.getToken()).accessToken}`);
    expect(await eo.providerId()).toBeUndefined();
    const wrong = connect({ basic: { username: 'alice', password: 'wrong' } });
    const error = await failure(wrong.fetch('me'));
    expect(error).toMatchObject({ code: 'invalid_client', status: 403, apiStatus: 'CredentialsInvalid' });
    expect(JSON.stringify({ ...error, message: error.message })).not.toContain('wrong');
  });

  it('bad options are invalid_options', () => {
    for (const make of [
      () => openEO({ url: 'not a url', provider: minting(CDSE_ISSUER) }),
      () => openEO({ url: backend.url, provider: minting(CDSE_ISSUER), providerId: 'a/b' }),
      () => openEO({ url: backend.url } as Parameters<typeof openEO>[0]),
    ]) {
      expect(make).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    }
  });
});

describe('the authorization option of fetchWithToken and createClient', () => {
  it('forms the header from the token (sync or async); a 401 still reports the token itself and refreshes once', async () => {
    const provider = minting(CDSE_ISSUER);
    const session = createSession({ provider, sharing: memorySharing() });
    try {
      const seen: string[] = [];
      const fetch = async (request: Request, init?: RequestInit): Promise<Response> => {
        const header = new Headers(init?.headers ?? request.headers).get('authorization') ?? '';
        seen.push(header);
        return new Response(null, { status: seen.length === 1 ? 401 : 200 });
      };
      const response = await fetchWithToken(session, new Request('https://api.example/x'), {
        fetch,
        authorization: async (token) => `Custom ${token.accessToken.length}:${token.accessToken}`,
      });
      expect(response.status).toBe(200);
      expect(provider.requests).toBe(2);
      const [first, second] = seen as [string, string];
      expect(first).toMatch(/^Custom \d+:ey/);
      expect(second).toBe(`Custom ${(await session.getToken()).accessToken.length}:${(await session.getToken()).accessToken}`);
      expect(second).not.toBe(first);
      const api = createClient(session, { fetch: (input, init) => fetch(input as Request, init), authorization: (token) => `Other ${token.accessToken}` });
      await api.get('https://api.example/y');
      expect(seen[2]).toBe(`Other ${(await session.getToken()).accessToken}`);
    } finally {
      await session.close();
    }
  });
});
