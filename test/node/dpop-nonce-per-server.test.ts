import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';

/**
 * RFC 9449 §8 and §9: nonces are per server, and a provider's token endpoint and an API may share an origin, each
 * with its own nonce. The servers' signer kept both under the origin, so each replaced the other: every token request
 * after an API call, and every API call after a refresh, met the other's nonce and was challenged once more (and a
 * retry could meet the other's nonce again). Kept apart as the browser keeps them (`authorizationServerNonceKey`).
 */
const servers: Array<{ close(): Promise<void> }> = [];
const open: Session[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => void readBody(req).then(() => handle(req, res)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('DPoP nonces of a provider and an API on one origin (servers)', () => {
  it('each server keeps its own nonce: one challenge each, however the token requests and API calls interleave', async () => {
    const challenges = { token: 0, api: 0 };
    let issued = 0;
    const origin = await listen((req, res) => {
      const { nonce } = decodeJwt(String(req.headers.dpop));
      if (req.url === '/token') {
        if (nonce !== 'nonce-of-the-provider') {
          challenges.token++;
          return void res
            .writeHead(400, { 'content-type': 'application/json', 'dpop-nonce': 'nonce-of-the-provider' })
            .end('{"error":"use_dpop_nonce"}');
        }
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `t-${++issued}`, token_type: 'DPoP', expires_in: 300 }));
      }
      if (nonce !== 'nonce-of-the-api') {
        challenges.api++;
        return void res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'nonce-of-the-api' }).end();
      }
      res.writeHead(200).end('ok');
    });
    const session = createSession({ provider: clientCredentials({ tokenUrl: `${origin}/token`, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true });
    open.push(session);
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      const token = await session.getToken();
      statuses.push((await fetchWithToken(session, new Request(`${origin}/api/items`))).status);
      // A refresh between calls (the token reported rejected): a token request after an API call, and back.
      await session.getToken({ rejected: token.accessToken });
    }
    // Before: 4 token challenges and 3 API challenges (each after the other server's nonce replaced its own).
    expect({ statuses, issued, challenges }).toEqual({ statuses: [200, 200, 200], issued: 4, challenges: { token: 1, api: 1 } });
  }, 20_000);
});
