import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../src/index.js';
import { fetchWithToken } from '../src/http/fetch-with-token.js';
import { createDPoPValidator, type DPoPCheck } from '../test/support/dpop-api.js';

/**
 * Review of issue 25 (servers): an API behind a redirect (a same-origin 307, as `/v1/x` → `/v2/x` or a trailing
 * slash). fetch follows it with the same headers, so the one proof of the attempt is presented twice (its `jti`
 * replayed, its `htu` not the URL it reaches): a strict API refuses it, and fetchWithToken's 401 rule then drops a
 * good token and refreshes, for a failure no new token can fix. Expected: a proof is never presented twice (follow
 * the redirect with a new proof for the new URL, or do not follow it with the proof), and no token request for it.
 */
const servers: Array<{ close(): Promise<void> }> = [];
const open: Session[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function listen(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const server = createServer((req, res) => void readBody(req).then((body) => handle(req, res, body)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('a DPoP request through a redirect', () => {
  it('same-origin 307: no proof presented twice, no token refreshed for it', async () => {
    const bound = new Map<string, string>();
    let tokenRequests = 0;
    const checks: DPoPCheck[] = [];
    const validator = createDPoPValidator();
    const origin = await listen((req, res) => {
      if (req.url === '/token') {
        tokenRequests++;
        const token = `t-${tokenRequests}`;
        void calculateJwkThumbprint(decodeProtectedHeader(req.headers.dpop as string).jwk as JWK).then((jkt) => {
          bound.set(token, jkt);
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'DPoP', expires_in: 300 }));
        });
        return;
      }
      void validator.check(req, `${origin}${req.url}`, async (token) => (bound.has(token) ? { isExpired: false, jkt: bound.get(token)! } : undefined)).then((check) => {
        checks.push(check);
        if (check === 'ok' && req.url === '/v1/items') return void res.writeHead(307, { location: '/v2/items' }).end();
        if (check === 'ok') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        res.writeHead(401, { 'www-authenticate': 'DPoP error="invalid_dpop_proof"' }).end();
      });
    });
    const session = createSession({ provider: clientCredentials({ tokenUrl: `${origin}/token`, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true });
    open.push(session);
    const outcomes: Array<number | string> = [];
    for (let i = 0; i < 3; i++) {
      outcomes.push(await fetchWithToken(session, new Request(`${origin}/v1/items`)).then((r) => r.status, (e: { code?: string }) => String(e.code)));
    }
    // Observed at f4cdf48: token_rejected × 3, 6 proofs presented twice (htu of /v1 at /v2, same jti), 4 token requests
    // for 3 calls. Since 15428e3 (invalid_dpop_proof answered with a new proof, not a refresh): 401 × 3, 6, 1 request.
    expect({ outcomes, replayed: checks.filter((c) => c === 'replayed' || c === 'htu').length, tokenRequests }).toEqual({ outcomes: [200, 200, 200], replayed: 0, tokenRequests: 1 });
  }, 20_000);
});
