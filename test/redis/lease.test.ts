import { expect, it } from 'vitest';
import { useRedisSessions } from '../support/redis-sessions.js';

// The lock (lease) outlives the work it guards: its holder renews it while its token request runs, and stores its
// token when nobody else took over; only a holder that stopped renewing (dead, paused) is replaced.

const env = useRedisSessions('lease');

it('a holder slower than its lease, with nobody taking over, stores its token for the fleet: 1 request', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId, { leaseTime: 1_000 });
  const b = await env.open('ioredis', clientId, { leaseTime: 1_000 });
  env.tokens.latency = 1_500; // one slow answer, no retry, no second process asking meanwhile
  const first = await a.session.getToken();
  env.tokens.latency = 0;
  const stored = await env.redis.cli('GET', a.keys.token);
  const second = await b.session.getToken();
  // a's valid token stored and published, b takes it: 1 request.
  expect({ stored: stored.includes(first.accessToken), sameToken: second.accessToken === first.accessToken, requests: env.tokens.stats.tokenRequests }).toEqual({
    stored: true,
    sameToken: true,
    requests: 1,
  });
});

it('a live holder is never replaced: 3× its lease later the others still wait for it, then take its token', async () => {
  const clientId = env.clientId();
  const fleet = await Promise.all(['redis', 'ioredis', 'redis'].map((library) => env.open(library as 'redis', clientId, { leaseTime: 600, pollInterval: 100 })));
  env.tokens.latency = 1_800;
  const started = Date.now();
  const results = await Promise.all(fleet.map(({ session }) => session.getToken()));
  expect(Date.now() - started).toBeGreaterThanOrEqual(1_700);
  expect(new Set(results.map((token) => token.accessToken)).size).toBe(1);
  expect(env.tokens.stats.tokenRequests).toBe(1);
  expect(fleet.flatMap(({ errors }) => errors)).toEqual([]);
});

it('a holder whose lease lapsed (renewals lost) stores its token if nobody else holds the lock', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId, { leaseTime: 60_000 });
  env.tokens.latency = 500;
  const pending = a.session.getToken();
  await expect.poll(() => env.tokens.stats.tokenRequests).toBe(1);
  // The lease expires (as if the holder had been paused past it) and nobody takes over.
  await env.redis.cli('DEL', a.keys.lock);
  const token = await pending;
  expect(await env.redis.cli('GET', a.keys.token)).toContain(token.accessToken);
  const b = await env.open('ioredis', clientId);
  expect((await b.session.getToken()).accessToken).toBe(token.accessToken);
  expect(env.tokens.stats.tokenRequests).toBe(1);
});

it('a holder whose lease lapsed does not overwrite a token that lives longer, nor a lock another holds', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId, { leaseTime: 60_000 });
  env.tokens.latency = 500;
  const pending = a.session.getToken();
  await expect.poll(() => env.tokens.stats.tokenRequests).toBe(1);
  // Another process took over and stored a token that expires later than a's will.
  const newer = JSON.stringify({ v: 2, token: { accessToken: 'newer', tokenType: 'Bearer', lifetime: 7_200_000 } });
  await env.redis.cli('SET', a.keys.token, newer, 'PX', '7200000');
  await env.redis.cli('SET', a.keys.lock, 'someone-else', 'PX', '60000');
  const token = await pending;
  expect(token.accessToken).not.toBe('newer'); // a's callers get a's valid token
  expect(await env.redis.cli('GET', a.keys.token)).toBe(`${newer}\n`);
  expect(await env.redis.cli('GET', a.keys.lock)).toBe('someone-else\n');
});
