import { describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, type Session, type SessionError } from '../../src/index.js';
import { useTokenServer } from '../support/token-server-suite.js';

const suite = useTokenServer('failures', 'failures-secret');

function session(clock?: { now(): number }): Session {
  const { server, client } = suite;
  return suite.track(
    createSession({
      provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, attempts: 2, backoff: 50 }),
      sharing: memorySharing(),
      ...(clock === undefined ? {} : { clock }),
    }),
  );
}

const failure = (promise: Promise<unknown>): Promise<SessionError> =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: SessionError) => error,
  );

describe('failures are remembered until they pass', () => {
  it('a 429 with Retry-After: 60 is one request; every later caller gets rate_limited with the time that is left', async () => {
    suite.server.failNext(1_000, 429, { retryAfter: '60' });
    const s = session();
    const errors: string[] = [];
    s.on('error', (error) => errors.push(error.code));
    const first = await failure(s.getToken());
    expect({ code: first.code, retryAfter: first.retryAfter }).toEqual({ code: 'rate_limited', retryAfter: 60_000 });
    const later: SessionError[] = [];
    for (let call = 0; call < 20; call++) {
      later.push(await failure(s.getToken()));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(new Set(later.map((error) => error.code))).toEqual(new Set(['rate_limited']));
    expect(later.every((error) => error.retryAfter! > 55_000 && error.retryAfter! <= 60_000)).toBe(true);
    // One request; the failure is told once (`error` event), the refusals are not news.
    expect({ requests: suite.server.stats.tokenRequests, errors }).toEqual({ requests: 1, errors: ['rate_limited'] });
  });

  it('once Retry-After has passed, the next caller asks again', async () => {
    let now = Date.now();
    const s = session({ now: () => now });
    suite.server.failNext(1, 429, { retryAfter: '60' });
    expect((await failure(s.getToken())).code).toBe('rate_limited');
    now += 59_000;
    expect((await failure(s.getToken())).retryAfter).toBe(1_000);
    now += 1_000;
    await expect(s.getToken()).resolves.toMatchObject({ tokenType: 'Bearer' });
    expect(suite.server.stats.tokenRequests).toBe(2);
  });

  it('an endpoint that stayed down through the retries is left alone for the back-off the chain would have waited next', async () => {
    suite.server.failNext(2, 503, { body: 'down', contentType: 'text/plain' });
    let now = Date.now();
    const s = session({ now: () => now });
    const down = await failure(s.getToken());
    expect(down.code).toBe('endpoint_unavailable');
    expect(down.retryAfter).toBeGreaterThan(0);
    expect(down.retryAfter).toBeLessThanOrEqual(100); // backoff 50 ms × 2^1, jittered
    expect((await failure(s.getToken())).code).toBe('endpoint_unavailable');
    expect(suite.server.stats.tokenRequests).toBe(2);
    now += 100;
    await expect(s.getToken()).resolves.toMatchObject({ tokenType: 'Bearer' });
  });
});
