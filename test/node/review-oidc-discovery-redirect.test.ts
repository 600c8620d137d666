import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';

/**
 * Review (issue 23, a hostile provider): discovery answered with a redirect (to a server that would serve metadata
 * naming itself) and with an endless body. Neither is followed or waited for past the timeout: typed errors.
 */
let server: Server;
let origin = '';
const served: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    served.push(req.url ?? '');
    if (req.url?.startsWith('/redirect/')) {
      res.writeHead(302, { location: `${origin}/elsewhere/.well-known/openid-configuration` }).end();
      return;
    }
    if (req.url?.startsWith('/endless/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"issuer":"');
      const timer = setInterval(() => res.write('a'.repeat(1024)), 5);
      res.on('close', () => clearInterval(timer));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

const refresh = (issuer: string) =>
  oidcProvider({ issuer, clientId: 'web', timeout: 1_500 })
    .fetchToken({ signal: new AbortController().signal, fetch, clock: { now: () => Date.now() }, refreshToken: 'rt' })
    .then(() => undefined, (error: unknown) => error);

it('a discovery redirect is not followed: typed, and the target never asked', async () => {
  const failure = await refresh(`${origin}/redirect`);
  expect(isSessionError(failure)).toBe(true);
  expect(served.some((url) => url.startsWith('/elsewhere/'))).toBe(false);
});

it('a discovery body that never ends: timeout within the timeout', async () => {
  const started = Date.now();
  const failure = await refresh(`${origin}/endless`);
  expect(isSessionError(failure, 'timeout')).toBe(true);
  expect(Date.now() - started).toBeLessThan(3_000);
});
