import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { createDPoPValidator, type DPoPCheck } from './dpop-api.js';

/**
 * The servers of the DPoP redirect rule's tests in other runtimes (Deno, workerd; Node's is
 * test/node/dpop-redirect-new-proof-per-hop.test.ts), on 127.0.0.1: origin A is a token endpoint (`POST /token`, a
 * DPoP token bound to the proof's key) and a strict API (test/support/dpop-api.ts) that redirects:
 * - `GET /v1/items` → 307 `/v2/items` → 200;
 * - `POST /v1/upload` → 307 `/v2/upload` → 200 echoing the body (kept across a 307);
 * - `GET /chain/<n>` → 302 `/chain/<n+1>`, forever (more than 5 redirects);
 * - `GET /away` → 302 to origin B, which records what it was sent and answers 200.
 * A refused proof is answered 401 `invalid_dpop_proof`. What the runtime under test does with them is read from `hops`.
 */
export interface RedirectServers {
  readonly origin: string;
  readonly otherOrigin: string;
  /** Every request to A's API and to B, in order. */
  readonly hops: Hop[];
  tokenRequests: number;
  close(): Promise<void>;
}

export interface Hop {
  readonly server: 'A' | 'B';
  readonly method: string;
  readonly path: string;
  /** A's check of the request's token and proof (B checks nothing). */
  readonly check?: DPoPCheck;
  readonly htu?: string;
  readonly jti?: string;
  readonly authorization: boolean;
  readonly dpop: boolean;
  readonly cookie: boolean;
  readonly body: string;
}

export async function startRedirectServers(): Promise<RedirectServers> {
  const bound = new Map<string, string>();
  const validator = createDPoPValidator();
  const hops: Hop[] = [];
  const state = { tokenRequests: 0 };
  const opened: Server[] = [];
  const seen = (req: IncomingMessage, server: 'A' | 'B', body: string, check?: DPoPCheck): Hop => {
    const proof = req.headers.dpop;
    const claims = typeof proof === 'string' ? (decodeJwt(proof) as { htu?: string; jti?: string }) : {};
    return {
      server,
      method: req.method ?? '',
      path: req.url ?? '',
      ...(check === undefined ? {} : { check }),
      ...(claims.htu === undefined ? {} : { htu: claims.htu }),
      ...(claims.jti === undefined ? {} : { jti: claims.jti }),
      authorization: req.headers.authorization !== undefined,
      dpop: proof !== undefined,
      cookie: req.headers.cookie !== undefined,
      body,
    };
  };
  const other = await listen(opened, (req, res, body) => {
    hops.push(seen(req, 'B', body));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"landed":true}');
  });
  const origin: string = await listen(opened, (req, res, body) => {
    if (req.url === '/token') {
      state.tokenRequests++;
      const token = `t-${state.tokenRequests}`;
      void calculateJwkThumbprint(decodeProtectedHeader(req.headers.dpop as string).jwk as JWK).then((jkt) => {
        bound.set(token, jkt);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'DPoP', expires_in: 300 }));
      });
      return;
    }
    void validator.check(req, `${origin}${req.url}`, async (token) => (bound.has(token) ? { isExpired: false, jkt: bound.get(token)! } : undefined)).then((check) => {
      hops.push(seen(req, 'A', body, check));
      if (check !== 'ok') return void res.writeHead(401, { 'www-authenticate': `DPoP error="invalid_dpop_proof", error_description="${check}"` }).end();
      const path = req.url ?? '';
      const chain = /^\/chain\/(\d+)$/.exec(path);
      if (path === '/v1/items' || path === '/v1/upload') return void res.writeHead(307, { location: path.replace('/v1/', '/v2/') }).end();
      if (chain !== null) return void res.writeHead(302, { location: `/chain/${Number(chain[1]) + 1}` }).end();
      if (path === '/away') return void res.writeHead(302, { location: `${other}/landing`, 'set-cookie': 'session=secret; Path=/' }).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path, body }));
    });
  });
  return {
    origin,
    otherOrigin: other,
    hops,
    get tokenRequests() {
      return state.tokenRequests;
    },
    set tokenRequests(value) {
      state.tokenRequests = value;
    },
    close: () => Promise.all(opened.splice(0).map(close)).then(() => undefined),
  };
}

async function listen(opened: Server[], handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const server = createServer((req, res) => void readBody(req).then((body) => handle(req, res, body)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
