import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, customProvider, memorySharing, type Session } from '../../src/index.js';
import { maplibreTransformRequest, type MaplibreProtocolLoader } from '../../src/maplibre.js';
import { startDPoPServers, type DPoPServers } from '../support/dpop-servers.js';

// The MapLibre helper with a DPoP session, outside the browser: what it registers with MapLibre, what its
// transformRequest hands back, and its protocol's loader against oidc-provider (DPoP required, nonces on) and an API
// that validates every proof strictly (test/support/dpop-servers.ts). Chromium runs: dpop-maps-service-worker.test.ts.

let servers: DPoPServers;
const open: Session[] = [];
beforeAll(async () => {
  servers = await startDPoPServers();
});
afterAll(async () => {
  await servers.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
});

function dpopSession(): Session {
  const session = createSession({
    provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret, scope: 'api' }),
    sharing: memorySharing(),
    dpop: true,
  });
  open.push(session);
  return session;
}

/** MapLibre's protocol registry, as `addProtocol`/`removeProtocol` keep it. */
function fakeMaplibre(): { protocols: Map<string, MaplibreProtocolLoader>; addProtocol(name: string, loader: MaplibreProtocolLoader): void; removeProtocol(name: string): void } {
  const protocols = new Map<string, MaplibreProtocolLoader>();
  return { protocols, addProtocol: (name, loader) => void protocols.set(name, loader), removeProtocol: (name) => void protocols.delete(name) };
}

it('a DPoP session without MapLibre to register a protocol with: invalid_options at once (transformRequest cannot sign)', () => {
  expect(() => maplibreTransformRequest(dpopSession(), `${servers.apiUrl}/`)).toThrow(expect.objectContaining({ name: 'SessionError', code: 'invalid_options' }));
  expect(() => maplibreTransformRequest(dpopSession(), `${servers.apiUrl}/`, { maplibre: {} as never })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
});

it('matched URLs go to a protocol of its own, synchronously and with no token in them; others are left alone; close() removes the protocol', async () => {
  const maplibre = fakeMaplibre();
  const session = dpopSession();
  const first = maplibreTransformRequest(session, 'https://tiles.example.com/protected/', { maplibre });
  const second = maplibreTransformRequest(session, 'https://tiles.example.com/protected/', { maplibre });
  expect(maplibre.protocols.size).toBe(2);
  const [name] = [...maplibre.protocols.keys()];
  expect(name).not.toMatch(/^(https?|file)$/);
  const tile = 'https://tiles.example.com/protected/1/2/3.png?style=a';
  expect(first(tile, 'Tile')).toEqual({ url: `${name}://${tile}` });
  expect(first('https://tiles.example.com/open/1/2/3.png', 'Tile')).toBeUndefined();
  expect(first('https://tiles.example.com.evil.test/protected/1/2/3.png', 'Tile')).toBeUndefined();
  expect(first('shared-session-1://https://tiles.example.com/protected/1.png', 'Tile')).toBeUndefined();
  first.close();
  expect(maplibre.protocols.has(name!)).toBe(false);
  expect(maplibre.protocols.size).toBe(1);
  second.close();
  await first.ready.catch(() => undefined);
});

it("the protocol's loader fetches the real URL with Authorization: DPoP and a fresh proof each time, accepted by the strict API; the API's nonce challenge answered once", async () => {
  const maplibre = fakeMaplibre();
  const transform = maplibreTransformRequest(dpopSession(), servers.apiUrl, { maplibre });
  const [loader] = [...maplibre.protocols.values()];
  const before = { ...servers.counts };
  const load = async (query: string): Promise<unknown> => {
    const { url } = transform(`${servers.apiUrl}/tile${query}`, 'Tile') as { url: string };
    return (await loader!({ url, type: 'json' }, new AbortController())).data;
  };
  expect(await load('?z=0')).toEqual({ ok: true });
  expect(await Promise.all(['?z=1', '?z=2', '?z=3'].map(load))).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
  expect(servers.counts.apiAccepted - before.apiAccepted).toBe(4);
  expect(servers.counts.apiNonceChallenges - before.apiNonceChallenges).toBe(1);
  expect(servers.counts.apiRefused - before.apiRefused).toBe(0);
  expect(servers.counts.replayedJti).toBe(0);
  expect(servers.refusals).toEqual([]);
  // Bytes for tiles and images, text for 'string'.
  const { url } = transform(`${servers.apiUrl}/tile`, 'Tile') as { url: string };
  expect(new TextDecoder().decode((await loader!({ url, type: 'arrayBuffer' }, new AbortController())).data as ArrayBuffer)).toBe('{"ok":true}');
  expect((await loader!({ url, type: 'string' }, new AbortController())).data).toBe('{"ok":true}');
  transform.close();
});

it("the loader refuses a URL that is not its protocol's, and reports an API refusal as a failed request (no token in the error)", async () => {
  const maplibre = fakeMaplibre();
  const session = dpopSession();
  const transform = maplibreTransformRequest(session, `${servers.tokenUrl}`, { maplibre });
  const [name, loader] = [...maplibre.protocols.entries()][0]!;
  await expect(loader({ url: 'https://elsewhere.example/x.png' }, new AbortController())).rejects.toMatchObject({ code: 'invalid_options' });
  // The token endpoint answers a GET with an error: a failed request, as a broken tile.
  const failure = await loader({ url: `${name}://${servers.tokenUrl}`, type: 'arrayBuffer' }, new AbortController()).catch((error: unknown) => error);
  expect(failure).toMatchObject({ name: 'SessionError', code: 'request_failed' });
  expect(String((failure as Error).message)).not.toContain((await session.getToken()).accessToken);
  transform.close();
});

it('a Bearer session is unchanged by the option: no protocol registered, MapLibre sends the request with the header', async () => {
  const maplibre = fakeMaplibre();
  const session = createSession({
    provider: customProvider({ key: 'maplibre-bearer', fetchToken: async () => ({ accessToken: 'at-1', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 }) }),
    sharing: memorySharing(),
  });
  open.push(session);
  const transform = maplibreTransformRequest(session, 'https://tiles.example.com/', { maplibre });
  await transform.ready;
  expect(maplibre.protocols.size).toBe(0);
  expect(transform('https://tiles.example.com/1/2/3.png', 'Tile')).toEqual({ url: 'https://tiles.example.com/1/2/3.png', headers: { Authorization: 'Bearer at-1' } });
  transform.close();
});
