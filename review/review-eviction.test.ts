import { expect, it } from 'vitest';
import { sleep, useRedisSessions } from '../support/redis-sessions.js';

// Redis is often shared with a cache: `maxmemory` with an `allkeys-*` eviction policy. The sign-out epoch has no TTL
// and is read only every 2 × commandTimeout: under memory pressure it is evicted like any key. An evicted epoch reads
// as 0, lower than the one every process knows, and a lower epoch counts as a sign-out (data lost): every process is
// signed out ('remote') though nobody called clear(). Expected (docs/redis.md): either the guide says which policies
// redisSharing needs (`noeviction`, or `volatile-*`: its epoch has no TTL), or the epoch survives eviction.

const env = useRedisSessions('review-eviction');

it('maxmemory + allkeys-random: filling the cache signs the fleet out without any clear()', async () => {
  const clientId = env.clientId();
  const a = await env.open('ioredis', clientId, { commandTimeout: 250 });
  const b = await env.open('redis', clientId, { commandTimeout: 250 });
  await a.session.getToken();
  await b.session.getToken();
  await a.session.clear(); // epoch 1: a real sign-out, seen by both
  await expect.poll(() => b.cleared).toEqual(['remote']);
  await Promise.all([a.session.getToken(), b.session.getToken()]);
  await env.redis.cli('CONFIG', 'SET', 'maxmemory', '3mb');
  await env.redis.cli('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-random');
  // The app's cache fills Redis (8 × 2 000 keys of 1 kB, far past maxmemory).
  for (let batch = 0; batch < 8; batch++) {
    await env.redis.cli('EVAL', `for i = 1, 2000 do redis.call('SET', 'cache:' .. ARGV[1] .. ':' .. i, string.rep('x', 1000)) end return 1`, '0', String(batch));
  }
  await sleep(1_000); // past the liveness bound
  const epochLeft = await env.redis.cli('EXISTS', a.keys.epoch);
  expect({ epochEvicted: epochLeft === '0\n', spuriousSignOuts: [a.cleared.length - 1, b.cleared.length - 1] }).toEqual({
    epochEvicted: false,
    spuriousSignOuts: [0, 0],
  });
});
