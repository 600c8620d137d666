import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { decodeJwt } from 'jose';
import { afterEach, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session } from '../../src/index.js';

/**
 * Review of issue 25 (nonce confusion): two authorization servers on one origin — Keycloak realms
 * (`/realms/a/…/token`, `/realms/b/…/token`), Okta's custom authorization servers (`/oauth2/<id>/v1/token`) — each
 * with its own `DPoP-Nonce` (RFC 9449 §8: a nonce is the authorization server's). The servers' signer kept one nonce
 * per origin for every provider and read it again for the retry of a challenge, so a challenge of realm B landing
 * while realm A's challenge was being read made A's one retry carry B's nonce: challenged again, and the token
 * request failed (`use_dpop_nonce`). The retry of a challenge must carry the nonce of that challenge.
 */
const closers: Array<() => Promise<void>> = [];
const open: Session[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

it('two realms on one origin, challenged at once: each retry carries its own realm nonce and both get a token', async () => {
  const nonces: Record<string, string> = { a: 'nonce-of-realm-a', b: 'nonce-of-realm-b' };
  const seen: string[] = [];
  let challengedB: (() => void) | undefined;
  const bChallenged = new Promise<void>((resolve) => (challengedB = resolve));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then(async () => {
      const realm = /^\/realms\/(a|b)\/token$/.exec(req.url ?? '')?.[1];
      if (realm === undefined) return void res.writeHead(404).end();
      const { nonce } = decodeJwt(String(req.headers.dpop));
      seen.push(`${realm}:${String(nonce)}`);
      if (nonce !== nonces[realm]) {
        const head = { 'content-type': 'application/json', 'dpop-nonce': nonces[realm]!, 'cache-control': 'no-store' };
        if (realm === 'a') {
          // Realm A's challenge: its headers now, its body once realm B's challenge has been answered (as two
          // answers interleave on a busy network).
          res.writeHead(400, head);
          res.flushHeaders();
          await bChallenged;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return void res.end('{"error":"use_dpop_nonce"}');
        }
        res.writeHead(400, head).end('{"error":"use_dpop_nonce"}');
        challengedB!();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `${realm}-token`, token_type: 'DPoP', expires_in: 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => (server.closeAllConnections(), new Promise<void>((resolve) => server.close(() => resolve()))));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const session = (realm: string): Session => {
    const opened = createSession({ provider: clientCredentials({ tokenUrl: `${origin}/realms/${realm}/token`, clientId: `c-${realm}`, clientSecret: 's' }), sharing: memorySharing(), dpop: true });
    open.push(opened);
    return opened;
  };
  const a = session('a');
  const b = session('b');
  const first = a.getToken().then((token) => token.accessToken, (error: { code?: string }) => `error:${error.code}`);
  // B asks once A's request is at the server.
  await expect.poll(() => seen.length, { timeout: 15_000 }).toBe(1);
  const second = b.getToken().then((token) => token.accessToken, (error: { code?: string }) => `error:${error.code}`);
  expect(await Promise.all([first, second])).toEqual(['a-token', 'b-token']);
  // Each realm challenged once, each retry with its own realm's nonce; no proof ever carries the other realm's.
  expect(seen.filter((entry) => entry.startsWith('a:'))).toEqual(['a:undefined', 'a:nonce-of-realm-a']);
  expect(seen.filter((entry) => entry.startsWith('b:'))).toEqual(['b:undefined', 'b:nonce-of-realm-b']);
}, 40_000);
