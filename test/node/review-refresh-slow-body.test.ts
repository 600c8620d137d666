import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, memorySharing, refreshTokenGrant } from '../../src/index.js';

// src/providers/refresh-token.ts: "A 2xx answer spent the token at the server … marked before the answer is read, so
// that an answer we refuse never makes us send it again." The mark is made after the body was read: a 2xx whose body
// stalls past the attempt timeout (a proxy buffering, a server that flushed its headers and then paused — or this
// process stopped, SIGSTOP, while the answer sat in its socket) fails `timeout` with the refresh token unmarked, and
// the next getToken sends the rotated-away token again (README: "a refresh token is never sent twice"; providers with
// reuse detection revoke the whole family).

let server: Server;
let tokenUrl: string;
const presented: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const refreshToken = new URLSearchParams(body).get('refresh_token') ?? '';
      presented.push(refreshToken);
      if (refreshToken !== 'rt-0' || presented.length > 1) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
        return;
      }
      // Rotated: rt-0 is spent from now on. The headers go out; the body comes 3 s later.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      setTimeout(() => res.end(JSON.stringify({ access_token: 'at-1', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-1' })), 3_000);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  presented.length = 0;
});

// The late-answer window (refresh-in-flight.ts) reads a body that comes after the attempt timeout: the rotation is
// kept and the token served. (Before it, the best outcome was `invalid_grant`: the case below, with a window shorter
// than the body's delay.)
it('a 2xx whose body comes after the attempt timeout, within the late-answer window: served, and the spent refresh token is not sent again', async () => {
  const session = createSession({
    provider: refreshTokenGrant({ tokenUrl, clientId: 'app', refreshToken: 'rt-0', timeout: 1_000, attempts: 2, backoff: 10 }),
    sharing: memorySharing(),
  });
  try {
    const first = await session.getToken().then((token) => token.accessToken, (error: { code?: string }) => error.code);
    expect(first).toBe('at-1');
    await session.getToken({ forceRefresh: true }).catch(() => undefined);
    // rt-1 next (the server refuses it here): never rt-0 again.
    expect(presented).toEqual(['rt-0', 'rt-1']);
  } finally {
    await session.close();
  }
}, 20_000);

it('a 2xx whose body comes after the attempt timeout and after the late-answer window: the refresh token it spent is not sent again', async () => {
  const session = createSession({
    // Another client id: this process knows app's rt-0 as rotated already (by the case above).
    provider: refreshTokenGrant({ tokenUrl, clientId: 'app-2', refreshToken: 'rt-0', timeout: 1_000, attempts: 2, backoff: 10, lateAnswerWindow: 1_500 }),
    sharing: memorySharing(),
  });
  try {
    const first = await session.getToken().catch((error: { code?: string }) => error.code);
    // The grant is over here (spent, its successor never read): signed out, as for any refused refresh answer.
    expect(first).toBe('invalid_grant');
    await session.getToken().catch(() => undefined);
    // Observed: ['rt-0', 'rt-0'] — the second getToken sends the spent token.
    expect(presented).toEqual(['rt-0']);
  } finally {
    await session.close();
  }
}, 20_000);
