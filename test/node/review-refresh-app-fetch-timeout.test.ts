import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createSession, isSessionError, memorySharing, refreshTokenGrant } from '../../src/index.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// The rule: a refresh token is never sent twice. An app's own fetch (the session's `fetch` option) with a timeout
// of its own aborts a refresh request that reached the server; its TimeoutError / AbortError was taken as "not sent"
// (no connection-broken code) and the retry sent the same refresh token, which the server had rotated: a reuse.

let server: TokenServer;
beforeAll(async () => {
  server = await startTokenServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

const codeOf = (error: unknown): string => (isSessionError(error) ? error.code : String(error));

for (const kind of ['TimeoutError', 'AbortError'] as const) {
  it(`an app fetch that gives up on its own (${kind}) after the request left: never sent again`, async () => {
    const client = server.addClient(`app-fetch-${kind}`);
    const options = { tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, refreshToken: server.issueRefreshToken(client.id), attempts: 3, backoff: 10 };
    // The app gives up once its request has reached the server (not after a fixed 200 ms: on a busy machine a first
    // fetch can take longer than that to leave, and a request that never left may rightly be sent again).
    const appFetch: typeof fetch = (input, init) => {
      const own = abortOnceArrived(server, kind);
      return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, own]) : own });
    };
    server.latency = 600;
    const session = createSession({ provider: refreshTokenGrant(options), sharing: memorySharing(), fetch: appFetch });
    const outcome = await session.getToken().then(() => 'token', codeOf);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // every request sent has reached the handler
    await session.close();
    // Before the fix: 3 requests, 2 reuses, and `endpoint_unavailable`.
    expect({ sent: server.stats.tokenRequests, reused: server.stats.refreshTokenReuse }).toEqual({ sent: 1, reused: 0 });
    expect(outcome).toBe('invalid_grant');
  }, 15_000);
}

/**
 * A signal that aborts as the app's own timeout or abort would (`kind`), once the server has received one more token
 * request than when it was made, i.e. after the request left; polled every 5 ms, for 10 s at most.
 */
function abortOnceArrived(server: TokenServer, kind: 'TimeoutError' | 'AbortError'): AbortSignal {
  const controller = new AbortController();
  const before = server.stats.tokenRequests;
  const startedAt = Date.now();
  const poll = setInterval(() => {
    if (server.stats.tokenRequests === before && Date.now() - startedAt < 10_000) return;
    clearInterval(poll);
    controller.abort(kind === 'TimeoutError' ? new DOMException('The operation timed out.', 'TimeoutError') : undefined);
  }, 5);
  return controller.signal;
}
