import { HTTPError } from 'ky';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, fetchWithToken } from '../../src/client.js';
import { clientCredentials, createSession, isSessionError, memorySharing, type Session } from '../../src/index.js';
import { maplibreTransformRequest } from '../../src/maplibre.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let client: { id: string; secret: string };
let session: Session;
let always401 = 0;

beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('fetch-user');
  server.route((_req, res, url) => {
    if (url.pathname === '/api/always-401') {
      always401++;
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'text/plain' }).end('denied');
      return true;
    }
    if (url.pathname === '/api/html-error') {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad gateway</body></html>');
      return true;
    }
    return false;
  });
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  await session?.close();
  server.reset();
  always401 = 0;
});

function newSession(): Session {
  session = createSession({
    provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }),
    sharing: memorySharing(),
  });
  return session;
}

describe('fetchWithToken', () => {
  it('sends the token, and after a 401 refreshes once for every request that saw the token', async () => {
    newSession();
    const first = await fetchWithToken(session, new Request(server.apiUrl));
    expect(first.status).toBe(200);
    server.revokeAll();
    server.resetStats();
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetchWithToken(session, new Request(server.apiUrl))));
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(server.stats.tokenRequests).toBe(1);
    expect(server.stats.apiUnauthorized).toBe(50);
  });

  it('retries a POST after a 401 with its body intact', async () => {
    newSession();
    await session.getToken();
    server.revokeAll();
    const response = await fetchWithToken(session, new Request(server.apiUrl, { method: 'POST', body: '{"area":"bbox"}' }));
    expect(response.status).toBe(200);
  });

  it('an API that always answers 401: two attempts, then token_rejected carrying the readable 401 response', async () => {
    newSession();
    const error: unknown = await fetchWithToken(session, new Request(`${server.origin}/api/always-401`)).catch((caught: unknown) => caught);
    expect(isSessionError(error, 'token_rejected')).toBe(true);
    expect(always401).toBe(2);
    const { response } = error as { response: Response };
    expect(response.status).toBe(401);
    expect(await response.text()).toBe('denied');
    // Not enumerable: logging or serialising the error does not drag the response along.
    expect(Object.keys(error as object)).not.toContain('response');
    expect((error as Error).message).not.toContain((await session.getToken()).accessToken);
  });

  it('an aborted request rejects while it waits for the token, without hanging', async () => {
    newSession();
    server.latency = 2000;
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 50);
    const error: unknown = await fetchWithToken(session, new Request(server.apiUrl, { signal: controller.signal })).catch(
      (caught: unknown) => caught,
    );
    expect(isSessionError(error, 'aborted')).toBe(true);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('a non-2xx answer other than 401 is returned as is, non-JSON body included', async () => {
    newSession();
    const response = await fetchWithToken(session, new Request(`${server.origin}/api/html-error`));
    expect(response.status).toBe(502);
    expect(await response.text()).toContain('Bad gateway');
  });
});

describe('createClient with a non-JSON error body', () => {
  it('rejects with ky HTTPError for the status (not a JSON parse error), and no token in the message', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin, retry: 0 });
    const error = (await api.get('api/html-error').json().catch((caught: unknown) => caught)) as HTTPError;
    expect(error).toBeInstanceOf(HTTPError);
    expect(error.response.status).toBe(502);
    expect(await error.response.text()).toContain('Bad gateway');
    expect(error.message).not.toContain((await session.getToken()).accessToken);
  });
});

describe('maplibreTransformRequest', () => {
  it('answers synchronously from memory once ready, follows refreshes, and leaves unmatched URLs alone', async () => {
    newSession();
    const transform = maplibreTransformRequest(session, `${server.origin}/tiles/`);
    const early = transform(`${server.origin}/tiles/0/0/0.png`, 'Tile');
    expect(early).toBeInstanceOf(Promise); // no token in memory yet: MapLibre ≥ 5.21 waits for it
    const { accessToken } = await session.getToken();
    await expect(early).resolves.toEqual({ url: `${server.origin}/tiles/0/0/0.png`, headers: { Authorization: `Bearer ${accessToken}` } });
    await transform.ready;

    expect(transform(`${server.origin}/tiles/1/0/0.png`, 'Tile')).toEqual({
      url: `${server.origin}/tiles/1/0/0.png`,
      headers: { Authorization: `Bearer ${accessToken}` },
    });
    expect(transform(`${server.origin}/style.json`, 'Style')).toBeUndefined();
    expect(transform('https://tiles.elsewhere.test/tiles/1/0/0.png', 'Tile')).toBeUndefined();
    expect(transform(`${server.origin.replace('127.0.0.1', 'localhost')}/tiles/1/0/0.png`, 'Tile')).toBeUndefined();

    const refreshed = await session.getToken({ forceRefresh: true });
    expect(transform(`${server.origin}/tiles/2/0/0.png`)).toEqual({
      url: `${server.origin}/tiles/2/0/0.png`,
      headers: { Authorization: `Bearer ${refreshed.accessToken}` },
    });

    await session.clear();
    const afterSignOut = transform(`${server.origin}/tiles/3/0/0.png`);
    expect(afterSignOut).toBeInstanceOf(Promise); // signed out: nothing in memory, the next tile waits for a login
    await expect(afterSignOut).resolves.toMatchObject({ headers: { Authorization: expect.stringMatching(/^Bearer at_/) } });
    transform.close();
  });
});
