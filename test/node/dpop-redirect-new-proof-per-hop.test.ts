import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import fc from 'fast-check';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';
import { createClient } from '../../src/client.js';
import { isSessionError } from '../../src/core/errors.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';
import { createDPoPValidator, type DPoPCheck } from '../support/dpop-api.js';

/**
 * Review of issue 25 (servers): an API behind a redirect (a same-origin 307, as `/v1/x` → `/v2/x` or a trailing
 * slash). fetch follows it with the same headers, so the one proof of the attempt is presented twice (its `jti`
 * replayed, its `htu` not the URL it reaches): a strict API refuses it, and fetchWithToken's 401 rule then drops a
 * good token and refreshes, for a failure no new token can fix. Expected: a proof is never presented twice (follow
 * the redirect with a new proof for the new URL, or do not follow it with the proof), and no token request for it.
 *
 * The rule (src/dpop/resource-request.ts, docs/dpop.md "Redirects"): a DPoP request is sent with `redirect: 'manual'`;
 * a redirect within the origin it was sent to is followed with a new proof for the new URL (as fetch would: method
 * and body kept for 307/308, a GET after 303 or a POST's 301/302), 5 at most; one to another origin is followed
 * without the token, a proof or cookies, and its answer is not the 401 rule's business.
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

/** A token endpoint that binds each token to the key of its request's proof, and counts the requests. */
function tokenEndpoint() {
  const bound = new Map<string, string>();
  let requests = 0;
  return {
    bound,
    get requests() {
      return requests;
    },
    answer(req: IncomingMessage, res: ServerResponse) {
      const token = `t-${++requests}`;
      void calculateJwkThumbprint(decodeProtectedHeader(req.headers.dpop as string).jwk as JWK).then((jkt) => {
        bound.set(token, jkt);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'DPoP', expires_in: 300 }));
      });
    },
    find: async (token: string) => (bound.has(token) ? { isExpired: false, jkt: bound.get(token)! } : undefined),
  };
}

function dpopSession(tokenUrl: string): Session {
  const session = createSession({ provider: clientCredentials({ tokenUrl, clientId: 'c', clientSecret: 's' }), sharing: memorySharing(), dpop: true });
  open.push(session);
  return session;
}

type Status = 301 | 302 | 303 | 307 | 308;

/** What fetch does to a request's method at a redirect (Fetch Standard, "HTTP-redirect fetch", step 12). */
function methodAfter(method: string, status: Status): string {
  return ((status === 301 || status === 302) && method === 'POST') || (status === 303 && method !== 'GET' && method !== 'HEAD') ? 'GET' : method;
}

describe('the redirect rule of DPoP requests (servers: the redirect is readable)', () => {
  it('any chain of redirects: every proof once and for the URL it reaches, nothing of ours at another origin, one token request', async () => {
    const tokens = tokenEndpoint();
    const validator = createDPoPValidator();
    // Each run's chain, by run id: the status of each hop and whether it leads to the other origin.
    const chains = new Map<string, Array<{ status: Status; cross: boolean }>>();
    const refused: string[] = [];
    const leaked: string[] = [];
    let other = '';
    const hop = (req: IncomingMessage, res: ServerResponse, body: string): void => {
      const [, , run, index] = req.url!.split('/');
      const chain = chains.get(run!)!;
      const i = Number(index);
      if (i < chain.length) {
        const { status, cross } = chain[i]!;
        return void res.writeHead(status, { location: `${cross ? other : ''}/r/${run}/${i + 1}` }).end();
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method, body }));
    };
    const origin = await listen((req, res, body) => {
      if (req.url === '/token') return tokens.answer(req, res);
      // Requests without our token come here only after the chain left the origin (fetch then follows the rest).
      if (req.headers.authorization === undefined) return hop(req, res, body);
      void validator.check(req, `${origin}${req.url}`, tokens.find).then((check) => {
        if (check === 'ok') return hop(req, res, body);
        refused.push(`${check} ${req.method} ${req.url}`);
        res.writeHead(401, { 'www-authenticate': 'DPoP error="invalid_dpop_proof"' }).end();
      });
    });
    other = await listen((req, res, body) => {
      for (const name of ['authorization', 'dpop', 'cookie']) if (req.headers[name] !== undefined) leaked.push(`${name} at ${req.url}`);
      hop(req, res, body);
    });
    const session = dpopSession(`${origin}/token`);
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ status: fc.constantFrom<Status>(301, 302, 303, 307, 308), cross: fc.boolean() }), { maxLength: 8 }),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        async (chain, method) => {
          const run = String(++runs);
          chains.set(run, chain);
          const body = method === 'GET' ? null : `body of run ${run}`;
          const request = new Request(`${origin}/r/${run}/0`, { method, body, headers: { cookie: 'session=app' } });
          const outcome = await fetchWithToken(session, request).then(
            async (response) => ({ status: response.status, answer: (await response.json()) as unknown }),
            (error: unknown) => ({ code: isSessionError(error) ? error.code : String(error) }),
          );
          // The redirects answered to requests that carried the token: up to the first that leaves the origin.
          const leaves = chain.findIndex((each) => each.cross);
          const handled = leaves === -1 ? chain.length : leaves + 1;
          if (handled > 5) return void expect(outcome).toEqual({ code: 'request_failed' });
          const finalMethod = chain.reduce<string>((m, each) => methodAfter(m, each.status), method);
          expect(outcome).toEqual({ status: 200, answer: { method: finalMethod, body: finalMethod === method ? (body ?? '') : '' } });
        },
      ),
      { numRuns: 40 },
    );
    // A proof presented twice (`replayed`) or at a URL it does not name (`htu`) would be in `refused`.
    expect({ refused, leaked, tokenRequests: tokens.requests }).toEqual({ refused: [], leaked: [], tokenRequests: 1 });
  }, 60_000);

  it('a nonce challenge and a refused token after a 303: answered at the URL reached, the POST sent once', async () => {
    const tokens = tokenEndpoint();
    const validator = createDPoPValidator();
    const seen: string[] = [];
    let refusedOnce = false;
    const origin = await listen((req, res) => {
      if (req.url === '/token') return tokens.answer(req, res);
      const proof = decodeJwt(String(req.headers.dpop));
      seen.push(`${req.method} ${req.url} ${proof.nonce === undefined ? 'no-nonce' : 'nonce'}`);
      void validator.check(req, `${origin}${req.url}`, tokens.find).then((check) => {
        if (check !== 'ok') return void res.writeHead(401, { 'www-authenticate': `DPoP error="invalid_dpop_proof", error_description="${check}"` }).end();
        if (req.url === '/orders') return void res.writeHead(303, { location: '/orders/1' }).end();
        if (proof.nonce !== 'n-1') return void res.writeHead(401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n-1' }).end();
        if (!refusedOnce) {
          // The API has revoked the first token: the session gets a new one, and only the GET is sent again.
          refusedOnce = true;
          tokens.bound.delete(req.headers.authorization!.slice(5));
          return void res.writeHead(401, { 'www-authenticate': 'DPoP error="invalid_token"' }).end();
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":1}');
      });
    });
    const session = dpopSession(`${origin}/token`);
    const response = await fetchWithToken(session, new Request(`${origin}/orders`, { method: 'POST', body: '{"item":"x"}' }));
    expect({ status: response.status, body: await response.json(), tokenRequests: tokens.requests, seen }).toEqual({
      status: 200,
      body: { id: 1 },
      tokenRequests: 2,
      seen: ['POST /orders no-nonce', 'GET /orders/1 no-nonce', 'GET /orders/1 nonce', 'GET /orders/1 nonce'],
    });
  }, 20_000);

  it('a 401 from another origin the redirect led to is its answer: no token dropped, no refresh', async () => {
    const tokens = tokenEndpoint();
    const other = await listen((req, res) => void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end());
    const origin = await listen((req, res) => {
      if (req.url === '/token') return tokens.answer(req, res);
      res.writeHead(302, { location: `${other}/elsewhere` }).end();
    });
    const session = dpopSession(`${origin}/token`);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetchWithToken(session, new Request(`${origin}/moved`))).status);
    expect({ statuses, tokenRequests: tokens.requests }).toEqual({ statuses: [401, 401, 401], tokenRequests: 1 });
  }, 20_000);

  it('createClient (ky) follows a same-origin 308 with a new proof; a request that asks for redirect: manual gets the 3xx', async () => {
    const tokens = tokenEndpoint();
    const validator = createDPoPValidator();
    const checks: DPoPCheck[] = [];
    const origin = await listen((req, res) => {
      if (req.url === '/token') return tokens.answer(req, res);
      void validator.check(req, `${origin}${req.url}`, tokens.find).then((check) => {
        checks.push(check);
        if (check !== 'ok') return void res.writeHead(401, { 'www-authenticate': 'DPoP error="invalid_dpop_proof"' }).end();
        if (req.url === '/items') return void res.writeHead(308, { location: '/items/' }).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2]');
      });
    });
    const session = dpopSession(`${origin}/token`);
    const api = createClient(session, { prefixUrl: origin });
    expect(await api.get('items').json()).toEqual([1, 2]);
    const manual = await fetchWithToken(session, new Request(`${origin}/items`, { redirect: 'manual' }));
    expect({ status: manual.status, location: manual.headers.get('location'), checks, tokenRequests: tokens.requests }).toEqual({
      status: 308,
      location: '/items/',
      checks: ['ok', 'ok', 'ok'],
      tokenRequests: 1,
    });
  }, 20_000);
});
