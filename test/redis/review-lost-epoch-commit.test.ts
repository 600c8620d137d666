import { expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { useRedisSessions } from '../support/redis-sessions.js';

// A token request in flight when another process signs out (its message lost: a silent Pub/Sub connection) must never
// be stored or handed out, even if Redis then loses the sign-out epoch before the commit arrives (a restart without
// persistence, FLUSHALL, an `allkeys-*` eviction of the epoch key, a failover to a replica that was behind). The
// request started under epoch 0 (no sign-out yet) and a lost epoch also reads as 0: the commit must not take
// "missing" for "0".

const env = useRedisSessions('review-lost-epoch');

for (const loss of ['FLUSHALL', 'epoch key evicted'] as const) {
  it(`a token requested before a sign-out is neither stored nor handed out after Redis lost the epoch (${loss})`, async () => {
    const clientId = env.clientId();
    const a = await env.open('redis', clientId);
    env.tokens.latency = 800;
    const inFlight = a.session.getToken().then(
      (token) => token.accessToken,
      (error: unknown) => (isSessionError(error) ? error.code : String(error)),
    );
    await expect.poll(() => env.tokens.stats.tokenRequests).toBe(1);
    // The sign-out of a process whose message never reaches a: the epoch moves, the token and the lock go.
    await env.redis.cli('EVAL', "redis.call('INCR', KEYS[1]) redis.call('DEL', KEYS[2], KEYS[3]) return 1", '3', a.keys.epoch, a.keys.token, a.keys.lock);
    // Then Redis loses the epoch, before the request's commit.
    if (loss === 'FLUSHALL') await env.redis.cli('FLUSHALL');
    else await env.redis.cli('DEL', a.keys.epoch);
    const requestedBefore = await inFlight;
    env.tokens.latency = 0;
    const stored = await env.redis.cli('GET', a.keys.token);
    const c = await env.open('ioredis', clientId); // a process started after the sign-out
    const fromC = (await c.session.getToken()).accessToken;
    expect({
      handedToCaller: requestedBefore !== 'aborted',
      storedInRedis: stored.includes(requestedBefore),
      handedToLaterProcess: fromC === requestedBefore,
    }).toEqual({ handedToCaller: false, storedInRedis: false, handedToLaterProcess: false });
  });
}

it('a commit refused because the epoch was lost gives its lock back: the next process is served at once, not after the lease', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId);
  env.tokens.latency = 600;
  const inFlight = a.session.getToken().then(
    (token) => token.accessToken,
    (error: unknown) => (isSessionError(error) ? error.code : String(error)),
  );
  await expect.poll(() => env.tokens.stats.tokenRequests).toBe(1);
  await env.redis.cli('DEL', a.keys.epoch); // evicted while the request runs; the lock (30 s lease) stays
  expect(await inFlight).toBe('aborted');
  env.tokens.latency = 0;
  const b = await env.open('ioredis', clientId);
  const started = Date.now();
  await b.session.getToken();
  expect(Date.now() - started).toBeLessThan(5_000);
}, 40_000);
