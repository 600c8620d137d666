import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text as readBody } from 'node:stream/consumers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { oidcProvider } from '../../src/oidc.js';

/**
 * Review (issue 23: "no token, code, verifier or refresh token reaches an event, error message, console"): a provider
 * (hostile, or one that echoes its input, as some do in `error_description`) answers a refresh with an OAuth error
 * whose description holds the refresh token it was sent. The SessionError the app logs must not carry it.
 */
let server: Server;
let issuer = '';
let answer: (sent: string) => { status: number; body: unknown } = () => ({ status: 500, body: {} });

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname.endsWith('/.well-known/openid-configuration')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, code_challenge_methods_supported: ['S256'] }),
      );
      return;
    }
    const form = new URLSearchParams(await readBody(req));
    const { status, body } = answer(form.get('refresh_token') ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const context = (refreshToken: string) => ({ signal: new AbortController().signal, fetch, clock: { now: () => Date.now() }, refreshToken });

for (const [what, error] of [
  ['invalid_request (the refresh token still valid)', 'invalid_request'],
  ['a non-standard error', 'server_busy'],
  ['invalid_grant', 'invalid_grant'],
] as const) {
  it(`a refresh answered 400 ${what} with the refresh token echoed in error_description: the SessionError does not carry it`, async () => {
    const secret = `rt-${what.length}-SECRET-refresh-token-value`;
    answer = (sent) => ({ status: 400, body: { error, error_description: `refresh_token '${sent}' could not be processed` } });
    const provider = oidcProvider({ issuer, clientId: 'web', scope: 'openid offline_access', timeout: 2_000 });
    const failure = await provider.fetchToken(context(secret)).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isSessionError(failure)).toBe(true);
    const everything = JSON.stringify({ ...(failure as object), message: (failure as Error).message, stack: (failure as Error).stack });
    expect(everything).not.toContain(secret);
  });
}
