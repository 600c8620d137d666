import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HTTPError } from 'ky';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client.js';
import { clientCredentials, createSession, isSessionError, memorySharing, type Session } from '../../src/index.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let client: { id: string; secret: string };
let session: Session;
let limitedCalls = 0;
let alwaysUnauthorizedCalls = 0;
const elsewhere: { headers: IncomingHttpHeaders[]; origin: string; close(): void } = { headers: [], origin: '', close: () => undefined };

beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('api-user');
  // A second origin that records what it receives: a redirect must not carry the token there.
  const other = createServer((req, res) => {
    elsewhere.headers.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"elsewhere":true}');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  elsewhere.origin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  elsewhere.close = () => other.close();

  server.route((req, res, url) => {
    switch (url.pathname) {
      case '/api/always-401':
        alwaysUnauthorizedCalls++;
        res.writeHead(401, { 'content-type': 'text/html' }).end('<h1>nope</h1>');
        return true;
      case '/api/limited':
        if (limitedCalls++ === 0) {
          res.writeHead(429, { 'retry-after': url.searchParams.get('after') ?? '1', 'content-type': 'text/plain' }).end('slow down');
          return true;
        }
        return false;
      case '/api/redirect-away':
        res.writeHead(302, { location: `${elsewhere.origin}/landing` }).end();
        return true;
      default:
        return false;
    }
  });
});
afterAll(async () => {
  elsewhere.close();
  await server.close();
});
afterEach(async () => {
  await session?.close();
  server.reset();
  limitedCalls = 0;
  alwaysUnauthorizedCalls = 0;
  elsewhere.headers.length = 0;
});

function newSession(): Session {
  session = createSession({
    provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }),
    sharing: memorySharing(),
  });
  return session;
}

describe('createClient', () => {
  it('sends the session token on every request', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin });
    const body = await api.get('api/echo').json<{ client: string; token: string }>();
    expect(body.client).toBe(client.id);
    expect(body.token).toBe((await session.getToken()).accessToken);
  });

  it('401 → one refresh for 100 parallel requests, each retried once with the new token', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin });
    await api.get('api/echo').json();
    server.revokeAll(); // the API no longer accepts the current token
    server.resetStats();
    const results = await Promise.all(Array.from({ length: 100 }, () => api.get('api/echo').json<{ token: string }>()));
    expect(server.stats.tokenRequests).toBe(1);
    expect(new Set(results.map((result) => result.token)).size).toBe(1);
    expect(server.stats.apiUnauthorized).toBe(100);
  });

  it('a POST with a body is retried after a 401 with its body intact', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin });
    await session.getToken();
    server.revokeAll();
    const response = await api.post('api/echo', { json: { area: 'bbox' } });
    expect(response.status).toBe(200);
  });

  it('an API that always answers 401 → token_rejected after one retry, no loop', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin });
    const error: unknown = await api.get('api/always-401').catch((caught: unknown) => caught);
    expect(isSessionError(error, 'token_rejected')).toBe(true);
    expect(alwaysUnauthorizedCalls).toBe(2);
    expect(server.stats.tokenRequests).toBe(2);
    // The flag is per request: the next request gets its own retry.
    await api.get('api/always-401').catch(() => undefined);
    expect(alwaysUnauthorizedCalls).toBe(4);
  });

  it('429 with Retry-After is honoured', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin });
    const started = Date.now();
    const response = await api.get('api/limited?after=1');
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('a Retry-After beyond maxRetryAfter fails at once', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin, maxRetryAfter: 5_000 });
    const started = Date.now();
    const error: unknown = await api.get('api/limited?after=3600').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(429);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('errors never carry the token in their message', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin, retry: 0 });
    const error = (await api.get('missing').catch((caught: unknown) => caught)) as Error;
    const { accessToken } = await session.getToken();
    expect(error.message).not.toContain(accessToken);
    expect(error.message).toContain('404');
  });

  it('an aborted request rejects with AbortError and does not hang', async () => {
    server.latency = 1000;
    const api = createClient(newSession(), { prefixUrl: server.origin });
    const controller = new AbortController();
    const pending = api.get('api/echo', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = (await pending.catch((caught: unknown) => caught)) as Error;
    expect(['AbortError', 'SessionError']).toContain(error.name);
  });

  it('a redirect to another origin does not carry the Authorization header', async () => {
    const api = createClient(newSession(), { prefixUrl: server.origin });
    const body = await api.get('api/redirect-away').json<{ elsewhere: boolean }>();
    expect(body.elsewhere).toBe(true);
    expect(elsewhere.headers).toHaveLength(1);
    expect(elsewhere.headers[0]?.authorization).toBeUndefined();
  });
});
