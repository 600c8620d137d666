import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing } from '../../src/index.js';
import { createClient } from '../../src/client.js';
import { startDPoPServers } from '../support/dpop-servers.js';

/**
 * DPoP proofs dated by the server's clock (docs/dpop.md "Clocks") learn it from each answer's `Date`. An answer
 * served by a cache carries the `Date` of when its origin made it (RFC 9111 §4, with an `Age`; a browser's HTTP cache
 * keeps it as stored): an hour-old tile is not a server whose clock is an hour behind. With clocks that agree, the
 * next proof to that API must not be dated an hour back (refused by a strict API, each call then costing two
 * requests).
 */
function decodePayload(proof: string): { iat?: number } {
  return JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString()) as { iat?: number };
}

it('an answer from a cache (old Date, Age) does not re-date the proofs of its API', async () => {
  const servers = await startDPoPServers();
  let refused = 0;
  let fresh = 0;
  const api: Server = createServer((request, response) => {
    const now = Date.now();
    if (request.url === '/cached') {
      // A stored answer, made an hour ago by the origin, served now by a cache.
      response.writeHead(200, { date: new Date(now - 3_600_000).toUTCString(), age: '3600', 'cache-control': 'max-age=86400' });
      response.end('tile');
      return;
    }
    fresh++;
    const iat = decodePayload(String(request.headers.dpop ?? '')).iat ?? 0;
    if (Math.abs(Math.floor(now / 1000) - iat) > 60) {
      refused++;
      response.writeHead(401, { date: new Date(now).toUTCString(), 'www-authenticate': 'DPoP error="invalid_dpop_proof", algs="ES256"' });
      response.end();
      return;
    }
    response.writeHead(200, { date: new Date(now).toUTCString() });
    response.end('ok');
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  try {
    const session = createSession({
      provider: clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret, scope: 'api' }),
      sharing: memorySharing(),
      dpop: true,
    });
    const client = createClient(session);
    expect((await client.get(`${base}/fresh`, { retry: 0, timeout: 5_000 })).status).toBe(200);
    expect((await client.get(`${base}/cached`, { retry: 0, timeout: 5_000 })).status).toBe(200);
    expect((await client.get(`${base}/fresh`, { retry: 0, timeout: 5_000 })).status).toBe(200);
    expect({ fresh, refused }).toEqual({ fresh: 2, refused: 0 });
    await session.close();
  } finally {
    await new Promise((resolve) => api.close(resolve));
    await servers.close();
  }
}, 30_000);
