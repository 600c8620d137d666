import { describe, expect, it } from 'vitest';
import {
  clientCredentials,
  createSession,
  customProvider,
  memorySharing,
  SessionError,
  staticToken,
  type ErrorCode,
  type Session,
} from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('app', 'super-secret-value-42');

function session(overrides: Partial<Parameters<typeof clientCredentials>[0]> = {}): Session {
  const created = createSession({
    provider: clientCredentials({
      tokenUrl: suite.server.tokenUrl,
      clientId: suite.client.id,
      clientSecret: suite.client.secret,
      backoff: 20,
      ...overrides,
    }),
    sharing: memorySharing(),
  });
  suite.track(created);
  return created;
}

async function failure(promise: Promise<unknown>): Promise<SessionError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SessionError);
  const sessionError = error as SessionError;
  // Secrets never reach an error.
  expect(JSON.stringify({ ...sessionError, message: sessionError.message })).not.toContain(suite.client.secret);
  return sessionError;
}

describe('typed errors from real server responses', () => {
  it('wrong secret → invalid_client, no retry', async () => {
    const error = await failure(session({ clientSecret: 'wrong' }).getToken());
    expect(error.code).toBe<ErrorCode>('invalid_client');
    expect(error.status).toBe(401);
    expect(error.oauthError).toBe('invalid_client');
    expect(error.oauthErrorDescription).toContain('test server');
    expect(suite.server.stats.tokenRequests).toBe(1);
  });

  it.each([
    ['empty access_token', JSON.stringify({ access_token: '', expires_in: 3600 })],
    ['missing access_token', JSON.stringify({ token_type: 'bearer', expires_in: 3600 })],
    ['non-numeric expires_in', JSON.stringify({ access_token: 'x', expires_in: 'soon' })],
    ['negative expires_in', JSON.stringify({ access_token: 'x', expires_in: -5 })],
    ['invalid JSON', '{"access_token": '],
    ['an HTML error page', '<html><body>Gateway says hi</body></html>'],
  ])('%s → invalid_response', async (_name, body) => {
    suite.server.respondNextWith(body, body.startsWith('<') ? 'text/html' : 'application/json');
    const error = await failure(session().getToken());
    expect(error.code).toBe<ErrorCode>('invalid_response');
    expect(suite.server.stats.tokenRequests).toBe(1);
  });

  it('missing expires_in → the documented default of 3600 s', async () => {
    suite.server.respondNextWith(JSON.stringify({ access_token: 'abc', token_type: 'Bearer' }));
    const token = await session().getToken();
    expect(token.expiresAt - token.issuedAt).toBe(3600_000);
  });

  it('custom defaultExpiresIn', async () => {
    suite.server.respondNextWith(JSON.stringify({ access_token: 'abc' }));
    const token = await session({ defaultExpiresIn: 300 }).getToken();
    expect(token.expiresAt - token.issuedAt).toBe(300_000);
  });

  it('400 invalid_scope and unsupported grant map to their codes', async () => {
    suite.server.failNext(1, 400, { body: JSON.stringify({ error: 'invalid_scope' }) });
    expect((await failure(session().getToken())).code).toBe('invalid_scope');
    suite.server.failNext(1, 400, { body: JSON.stringify({ error: 'something_new' }) });
    const unknown = await failure(session({ scope: 'b' }).getToken());
    expect(unknown.code).toBe('request_failed');
    expect(unknown.oauthError).toBe('something_new');
  });

  it('500, 500, 200 succeeds after 3 attempts', async () => {
    suite.server.failNext(2, 500);
    const token = await session().getToken();
    expect(token.accessToken).toMatch(/^at_/);
    expect(suite.server.stats.tokenRequests).toBe(3);
  });

  it('a token endpoint that stays down → endpoint_unavailable after 4 attempts', async () => {
    suite.server.failNext(10, 503, { body: 'down', contentType: 'text/plain' });
    const error = await failure(session().getToken());
    expect(error.code).toBe('endpoint_unavailable');
    expect(error.status).toBe(503);
    expect(suite.server.stats.tokenRequests).toBe(4);
    suite.server.resetStats();
  });

  it('an unreachable endpoint → endpoint_unavailable', async () => {
    const error = await failure(session({ tokenUrl: 'http://127.0.0.1:9/token', attempts: 2 }).getToken());
    expect(error.code).toBe('endpoint_unavailable');
  });

  it('429 with Retry-After waits at least that long, then succeeds', async () => {
    suite.server.failNext(1, 429, { retryAfter: '1' });
    const started = Date.now();
    await session().getToken();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('429 with an HTTP-date Retry-After is honoured too', async () => {
    suite.server.failNext(1, 429, { retryAfter: new Date(Date.now() + 2000).toUTCString() });
    const started = Date.now();
    await session().getToken();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('429 with a Retry-After beyond maxDelay → rate_limited at once', async () => {
    // What one token request costs on this machine now: the baseline of "at once".
    const baselineStarted = performance.now();
    await session().getToken();
    const baseline = performance.now() - baselineStarted;
    suite.server.resetStats();
    suite.server.failNext(1, 429, { retryAfter: '120' });
    const started = performance.now();
    const error = await failure(session().getToken());
    expect(error.code).toBe('rate_limited');
    expect(error.retryAfter).toBe(120_000);
    // One request, no retry, and no wait: within a second of what the baseline request took (not 120 s).
    expect(suite.server.stats.tokenRequests).toBe(1);
    expect(performance.now() - started).toBeLessThan(1000 + 2 * baseline);
  });

  it('retries keep one request in flight per credential', async () => {
    suite.server.failNext(2, 502);
    const s = session();
    await Promise.all(Array.from({ length: 50 }, () => s.getToken()));
    expect(suite.server.stats.tokenRequests).toBe(3);
  });

  it('abort rejects at once; the shared request goes on for the others', async () => {
    suite.server.latency = 500;
    const s = session();
    const controller = new AbortController();
    const aborted = s.getToken({ signal: controller.signal });
    const other = s.getToken();
    let otherSettled = false;
    void other.finally(() => (otherSettled = true)).catch(() => undefined);
    controller.abort();
    // "At once": before the event loop turns (no timer, no I/O in between), so whatever the machine's load, and
    // long before the shared request (500 ms latency) answers, which is still on its way.
    const turned = new Promise<'a turn of the event loop'>((resolve) => setImmediate(() => resolve('a turn of the event loop')));
    const first = await Promise.race([failure(aborted), turned]);
    expect(first).toMatchObject({ code: 'aborted' });
    expect(otherSettled).toBe(false);
    expect((await other).accessToken).toMatch(/^at_/);
    suite.server.latency = 0;
  });

  it('an already aborted signal → aborted, without a token request; closing then leaves no unhandled rejection', async () => {
    const s = session();
    expect((await failure(s.getToken({ signal: AbortSignal.abort() }))).code).toBe('aborted');
    await s.close();
    await new Promise((resolve) => setTimeout(resolve, 50)); // an unhandled rejection would surface by now
    expect(suite.server.stats.tokenRequests).toBe(0);
  });

  it('every caller aborts, then the shared request fails: each caller gets aborted, nothing unhandled', async () => {
    suite.server.latency = 200;
    suite.server.failNext(1, 400, { body: JSON.stringify({ error: 'invalid_client' }) });
    const s = session();
    const controller = new AbortController();
    const calls = [s.getToken({ signal: controller.signal }), s.getToken({ signal: controller.signal })];
    controller.abort();
    for (const call of calls) expect((await failure(call)).code).toBe('aborted');
    await new Promise((resolve) => setTimeout(resolve, 400)); // the request fails with nobody waiting
    expect(suite.server.stats.tokenRequests).toBe(1);
    suite.server.latency = 0;
  });

  it('per-request timeout → timeout', async () => {
    suite.server.latency = 400;
    const error = await failure(session({ timeout: 100, attempts: 1 }).getToken());
    expect(error.code).toBe('timeout');
    suite.server.latency = 0;
  });

  it('the error event reports failures', async () => {
    const s = session({ clientSecret: 'nope' });
    const codes: string[] = [];
    s.on('error', (error) => codes.push(error.code));
    await s.getToken().catch(() => undefined);
    expect(codes).toEqual(['invalid_client']);
  });

  it('invalid options are rejected synchronously', () => {
    expect(() => clientCredentials({ tokenUrl: '', clientId: 'a', clientSecret: 'b' })).toThrow(
      expect.objectContaining({ code: 'invalid_options' }),
    );
    expect(() =>
      createSession({ provider: staticToken({ accessToken: 'x' }), refreshBeforeExpiry: -1, sharing: memorySharing() }),
    ).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });
});

describe('staticToken and customProvider', () => {
  it('a static token is served until it expires, then token_expired', async () => {
    let now = 1_000_000;
    const s = createSession({
      provider: staticToken({ accessToken: 'given', expiresAt: now + 60_000 }),
      sharing: memorySharing(),
      clock: { now: () => now },
    });
    suite.track(s);
    expect((await s.getToken()).accessToken).toBe('given');
    now += 59_000; // inside any refresh margin, but a static token cannot be refreshed: still served
    expect((await s.getToken()).accessToken).toBe('given');
    now += 1_000;
    expect((await failure(s.getToken())).code).toBe('token_expired');
  });

  it('customProvider output is validated', async () => {
    const s = createSession({
      provider: customProvider({
        key: 'user-1',
        fetchToken: () => Promise.resolve({ accessToken: '', tokenType: 'Bearer', expiresAt: 1, issuedAt: 0 }),
      }),
      sharing: memorySharing(),
    });
    suite.track(s);
    expect((await failure(s.getToken())).code).toBe('invalid_response');
  });

  it('customProvider single-flights the app backend', async () => {
    let calls = 0;
    const s = createSession({
      provider: customProvider({
        key: 'user-2',
        fetchToken: async () => {
          calls++;
          await new Promise((resolve) => setTimeout(resolve, 20));
          return { accessToken: 'from-backend', tokenType: 'Bearer', issuedAt: Date.now(), expiresAt: Date.now() + 3600_000 };
        },
      }),
      sharing: memorySharing(),
    });
    suite.track(s);
    await Promise.all(Array.from({ length: 100 }, () => s.getToken()));
    expect(calls).toBe(1);
  });
});
