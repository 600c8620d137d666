import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, fetchWithToken } from '../../src/client.js';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';
import { sentinelHub } from '../../src/sentinel-hub.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

let server: TokenServer;
let client: { id: string; secret: string };
const open: Array<{ close(): Promise<void> }> = [];

// What a broken (or hostile) token endpoint sends: a token that cannot be put in a header as is.
const SECRET_PART = 'at_SECRET_4f1d2c';
const BAD_TOKEN = `${SECRET_PART}\r\nX-Injected: yes`;

beforeAll(async () => {
  server = await startTokenServer();
  client = server.addClient('hostile-token-user');
});
afterAll(() => server.close());
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
  server.reset();
});

function newSession(): Session {
  const session = createSession({
    provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret }),
    sharing: memorySharing(),
  });
  open.push(session);
  return session;
}

/** Everything a logger could print of an error: message, stack, JSON, util.inspect (which follows `cause`). */
function everythingIn(error: unknown): string {
  let json = '';
  try {
    json = JSON.stringify(error);
  } catch {
    json = '';
  }
  return `${String(error)}\n${(error as Error)?.stack ?? ''}\n${json}\n${inspect(error, { depth: 10 })}`;
}

describe('a token that cannot be sent in a header is no token', () => {
  it('is refused as invalid_response at the token endpoint (a token that cannot be sent in a header is no token)', async () => {
    server.respondNextWith(JSON.stringify({ access_token: BAD_TOKEN, token_type: 'Bearer', expires_in: 3600 }));
    const session = newSession();
    const outcome = await session.getToken().then(
      (token) => ({ accepted: JSON.stringify(token.accessToken) }),
      (error: unknown) => ({ code: (error as { code?: string }).code }),
    );
    expect(outcome).toEqual({ code: 'invalid_response' });
  });

  it('fetchWithToken: the failure never quotes the token (observed: a raw TypeError whose message is the header value)', async () => {
    server.respondNextWith(JSON.stringify({ access_token: BAD_TOKEN, token_type: 'Bearer', expires_in: 3600 }));
    const session = newSession();
    const error = await fetchWithToken(session, new Request(server.apiUrl)).catch((caught: unknown) => caught);
    expect(error).toBeDefined();
    expect(everythingIn(error)).not.toContain(SECRET_PART);
  });

  it('createClient (ky): the rejection never quotes the token', async () => {
    server.respondNextWith(JSON.stringify({ access_token: BAD_TOKEN, token_type: 'Bearer', expires_in: 3600 }));
    const api = createClient(newSession(), { prefixUrl: server.origin, retry: 0 });
    const error = await api.get('api/echo').catch((caught: unknown) => caught);
    expect(error).toBeDefined();
    expect(everythingIn(error)).not.toContain(SECRET_PART);
  });

  it('a preset (Sentinel Hub Catalog) turns it into a SessionError whose cause chain quotes the token', async () => {
    server.respondNextWith(JSON.stringify({ access_token: BAD_TOKEN, token_type: 'Bearer', expires_in: 3600 }));
    const sh = sentinelHub({
      clientId: client.id,
      clientSecret: client.secret,
      tokenUrl: server.tokenUrl,
      baseUrl: server.origin,
      sharing: memorySharing(),
      client: { retry: 0 },
    });
    open.push(sh);
    const error = await sh.catalogSearch({ collections: ['sentinel-2-l2a'], datetime: '2024-06-01T00:00:00Z' }).catch((caught: unknown) => caught);
    expect((error as { name?: string }).name).toBe('SessionError');
    // "endpoint_unavailable: Sentinel Hub could not be reached" although it was never asked; cause = the TypeError.
    expect(everythingIn(error)).not.toContain(SECRET_PART);
  });

  it('a token_type with CR/LF is refused too (it is put in the same header)', async () => {
    server.respondNextWith(JSON.stringify({ access_token: SECRET_PART, token_type: 'Bearer\r\nX-Injected: yes', expires_in: 3600 }));
    const session = newSession();
    const outcome = await session.getToken().then(
      (token) => ({ accepted: JSON.stringify(token.tokenType) }),
      (error: unknown) => ({ code: (error as { code?: string }).code }),
    );
    expect(outcome).toEqual({ code: 'invalid_response' });
  });

  it('the session does not keep handing out the unusable token: the next call gets a working one', async () => {
    server.respondNextWith(JSON.stringify({ access_token: BAD_TOKEN, token_type: 'Bearer', expires_in: 3600 }));
    const session = newSession();
    await fetchWithToken(session, new Request(server.apiUrl)).catch(() => undefined);
    await fetchWithToken(session, new Request(server.apiUrl)).catch(() => undefined);
    // Observed: the broken token stays current for its whole hour; every request fails before it is sent.
    const response = await fetchWithToken(session, new Request(server.apiUrl)).catch((error: unknown) => (error as Error).name);
    expect(response).toBeInstanceOf(Response);
  });
});
