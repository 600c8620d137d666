import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, memorySharing, type Session } from '../../src/index.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';

/**
 * Review of issue 25: an API that refuses the PROOF, not the token — RFC 9449 §7.1 `WWW-Authenticate: DPoP
 * error="invalid_dpop_proof"` (a clock `iat` outside its window, a `jti` it has seen, an `htu` after a redirect).
 * fetchWithToken's 401 rule dropped the token in every context and asked the provider for a new one on every such
 * call: 5 calls, 5 more token requests, for a failure no new token can fix ("one token request per credential per
 * token lifetime"). Expected: the request is sent once more with a fresh proof (and the session's current token), no
 * token request; a second refusal is the API's answer (as a second nonce challenge is).
 */
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('an API that refuses the proof (invalid_dpop_proof)', () => {
  it('always: every call tried twice with fresh proofs, the second 401 the answer, and no token request for it', async () => {
    let tokenRequests = 0;
    const jtis: string[] = [];
    const origin = await listen((req, res) => {
      if (req.url === '/token') {
        tokenRequests++;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `t-${tokenRequests}`, token_type: 'DPoP', expires_in: 300 }));
      }
      jtis.push(String(decodeJwt(req.headers.dpop as string).jti));
      res.writeHead(401, { 'www-authenticate': 'DPoP algs="ES256", error="invalid_dpop_proof", error_description="iat is not recent enough"' }).end();
    });
    const session: Session = createSession({ provider: clientCredentials({ tokenUrl: `${origin}/token`, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true });
    closers.push(() => session.close());
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(await fetchWithToken(session, new Request(`${origin}/api`)).then((response) => String(response.status), (error: unknown) => (isSessionError(error) ? error.code : String(error))));
    }
    expect(outcomes).toEqual(Array.from({ length: 5 }, () => '401'));
    expect(jtis).toHaveLength(10);
    expect(new Set(jtis).size).toBe(10);
    expect(tokenRequests).toBe(1);
  });

  it('once (a proof refused by chance): the retry with a fresh proof succeeds, with the same token', async () => {
    let tokenRequests = 0;
    let refuse = true;
    const origin = await listen((req, res) => {
      if (req.url === '/token') {
        tokenRequests++;
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `t-${tokenRequests}`, token_type: 'DPoP', expires_in: 300 }));
      }
      if (refuse) {
        refuse = false;
        return void res.writeHead(401, { 'www-authenticate': 'DPoP error=invalid_dpop_proof' }).end();
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(req.headers.authorization);
    });
    const session = createSession({ provider: clientCredentials({ tokenUrl: `${origin}/token`, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true });
    closers.push(() => session.close());
    const response = await fetchWithToken(session, new Request(`${origin}/api`));
    expect({ status: response.status, body: await response.text(), tokenRequests }).toEqual({ status: 200, body: 'DPoP t-1', tokenRequests: 1 });
  });
});
