import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ACQUIRE_SCRIPT, COMMIT_SCRIPT, encodeRecord, keysFor } from '../../src/sharing/redis/protocol.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

// Found by the chaos soak (test/soak/redis.ts, Redis SIGSTOPped 1–3 s): a commit sent just before Redis paused ran
// when it resumed, with the TTL counted from its sending, so the token outlived itself in Redis by the pause and every
// process handed it out after it had expired (81 calls answered 401 in one 24 s run). The commit now says when it was
// sent in Redis's clock (the acquisition's TIME plus the holder's time since), and Redis shortens the TTL by how late
// it runs it.

let redis: RedisServer;
let client: Redis;
beforeAll(async () => {
  redis = await startRedisServer();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

const token = { accessToken: 'at_late', tokenType: 'Bearer', issuedAt: 0, expiresAt: 3_000 };

async function acquire(name: string): Promise<{ keys: ReturnType<typeof keysFor>; redisTime: number }> {
  const keys = keysFor('late:', name);
  const reply = (await client.eval(ACQUIRE_SCRIPT, 4, keys.lock, keys.token, keys.epoch, keys.failure, 'fence', '10000')) as unknown[];
  expect(reply[0]).toBe(2);
  return { keys, redisTime: Number(reply[4]) };
}

function commit(keys: ReturnType<typeof keysFor>, ttl: number, sent: string): Promise<unknown> {
  return client.eval(COMMIT_SCRIPT, 3, keys.lock, keys.token, keys.epoch, 'fence', encodeRecord(token), String(ttl), '0', keys.channel, '{}', sent);
}

it('the lock answer carries Redis’s clock', async () => {
  const before = Date.now();
  const { redisTime } = await acquire('clock');
  // Same machine here, so the two clocks agree within the round trip.
  expect(Math.abs(redisTime - before)).toBeLessThan(1_000);
});

it('a commit that runs 2 s after it was sent stores the token for what is left of its 3 s, not for 3 s from now', async () => {
  const { keys, redisTime } = await acquire('late');
  expect(await commit(keys, 3_000, String(redisTime - 2_000))).toEqual([1]);
  const left = await client.pttl(keys.token);
  expect(left).toBeGreaterThan(500);
  expect(left).toBeLessThanOrEqual(1_000);
});

it('a commit that runs after the token’s whole life stores nothing', async () => {
  const { keys, redisTime } = await acquire('too-late');
  expect(await commit(keys, 3_000, String(redisTime - 5_000))).toEqual([0]);
  expect(await client.exists(keys.token)).toBe(0);
});

it('a commit on time keeps its TTL; one that does not say when it was sent is taken as on time', async () => {
  const onTime = await acquire('on-time');
  expect(await commit(onTime.keys, 3_000, String(onTime.redisTime))).toEqual([1]);
  expect(await client.pttl(onTime.keys.token)).toBeGreaterThan(2_900);
  const unknown = await acquire('unknown');
  expect(await commit(unknown.keys, 3_000, '')).toEqual([1]);
  expect(await client.pttl(unknown.keys.token)).toBeGreaterThan(2_900);
});
