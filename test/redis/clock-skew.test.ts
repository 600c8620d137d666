import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { clientCredentials, createSession } from '../../src/index.js';
import { redisSharing } from '../../src/redis.js';
import { keysFor } from '../../src/sharing/redis/protocol.js';
import { type FleetProcess, startFleet, stopFleet } from '../support/redis-fleet.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import { Redis } from 'ioredis';

// Machines of a fleet whose clocks disagree. A token's times are epoch ms of the clock of the process that fetched
// it, so none of them is stored or sent: Redis keeps the token with a TTL (counted down by Redis itself), and every
// reader computes the expiry in its own clock from that TTL. So processes 5 minutes apart agree on when a token
// expires, refresh it together (one request) and never hand out one that their own clock calls expired.

let redis: RedisServer;
let tokens: TokenServer;
let fleet: FleetProcess[] = [];
let clientNumber = 0;
const MINUTES_5 = 5 * 60_000;

beforeAll(async () => {
  [redis, tokens] = await Promise.all([startRedisServer(), startTokenServer()]);
});
afterAll(async () => {
  await Promise.all([redis.stop(), tokens.close()]);
});
beforeEach(async () => {
  tokens.reset();
  await redis.cli('FLUSHALL');
});
afterEach(async () => {
  await stopFleet(fleet);
  fleet = [];
});

interface Loop {
  calls: number;
  tokens: string[];
  errors: string[];
  expired: number;
  refused: number;
}

// No bound of its own (the redis project's 60 s): most of this test is starting the fleet (bundling the worker, forking
// 3 processes that each connect to Redis), 7–11 s at load 12 beside two CPU hogs; with the 7 s loop, a heavier load
// took it past the 30 s it had here. A test's time is not what it promises.
it('3 processes 5 min ahead, on time and 5 min behind, 3 s tokens for 7 s: one request per refresh, none expired, none refused', async () => {
  const { id, secret } = tokens.addClient(`skew-${++clientNumber}`);
  const offsets = [MINUTES_5, 0, -MINUTES_5];
  fleet = await startFleet(3, (index) => ({
    redisUrl: redis.url,
    library: index === 1 ? 'ioredis' : 'redis',
    tokenUrl: tokens.tokenUrl,
    apiUrl: tokens.apiUrl,
    clientId: id,
    clientSecret: secret,
    clockOffset: offsets[index]!,
    refreshBeforeExpiry: 1_000,
  }));
  tokens.lifetime = 3;
  tokens.latency = 50;
  const results = await Promise.all(fleet.map((member) => member.request<Loop>({ cmd: 'loop', duration: 7_000, every: 25 })));
  expect(results.flatMap((result) => result.errors)).toEqual([]);
  // Whichever process fetches, the others see the same expiry: requests at about 0, 2, 4 and 6 s, as without skew.
  expect(tokens.stats.tokenRequests).toBeGreaterThanOrEqual(3);
  expect(tokens.stats.tokenRequests).toBeLessThanOrEqual(5);
  expect(new Set(results.flatMap((result) => result.tokens)).size).toBe(tokens.stats.tokenRequests);
  expect(results.map((result) => [result.expired, result.refused])).toEqual([
    [0, 0],
    [0, 0],
    [0, 0],
  ]);
  // Each process kept calling across refreshes (it used at least two of the tokens), whatever number of calls the
  // machine fits in 7 s (was "more than 50 calls each", which a loaded CI machine missed).
  expect(results.map((result) => result.calls > 0 && new Set(result.tokens).size >= 2)).toEqual([true, true, true]);
  expect(tokens.stats.apiUnauthorized).toBe(0);
});

it('a token fetched by a process 5 min behind is fresh for one 5 min ahead (and the other way round): 1 request', async () => {
  const { id, secret } = tokens.addClient(`skew-${++clientNumber}`);
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const open = (offset: number): ReturnType<typeof createSession> =>
    createSession({
      provider: clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret }),
      sharing: redisSharing({ client }),
      clock: { now: () => Date.now() + offset },
    });
  const behind = open(-MINUTES_5);
  const ahead = open(MINUTES_5);
  try {
    tokens.lifetime = 60; // far shorter than the skew: absolute times would make it expired for `ahead`
    const fetched = await behind.getToken();
    const adopted = await ahead.getToken();
    expect(adopted.accessToken).toBe(fetched.accessToken);
    // In each process's own clock the token lives about its 60 s from now.
    const aheadNow = Date.now() + MINUTES_5;
    expect(adopted.expiresAt - aheadNow).toBeGreaterThan(58_000);
    expect(adopted.expiresAt - aheadNow).toBeLessThanOrEqual(60_000);
    expect(adopted.expiresAt - adopted.issuedAt).toBe(fetched.expiresAt - fetched.issuedAt);
    expect(tokens.stats.tokenRequests).toBe(1);
  } finally {
    await Promise.all([behind.close(), ahead.close()]);
    client.disconnect();
  }
});

it('every time read from Redis is bounded by the reader: a record claiming more life than its lifetime gets its lifetime', async () => {
  const { id, secret } = tokens.addClient(`skew-${++clientNumber}`);
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret });
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const session = createSession({ provider, sharing: redisSharing({ client }) });
  try {
    // A TTL of ten years for a token that says it lives one hour: issued in the future by any clock.
    const record = JSON.stringify({ v: 2, token: { accessToken: 'stored', tokenType: 'Bearer', lifetime: 3_600_000 } });
    await redis.cli('SET', keysFor('shared-session:', provider.key).token, record, 'PX', String(10 * 365 * 86_400_000));
    const before = Date.now();
    const token = await session.getToken();
    expect(token.accessToken).toBe('stored');
    expect(token.issuedAt).toBeGreaterThanOrEqual(before);
    expect(token.issuedAt).toBeLessThanOrEqual(Date.now());
    expect(token.expiresAt - token.issuedAt).toBe(3_600_000);
    expect(tokens.stats.tokenRequests).toBe(0);
  } finally {
    await session.close();
    client.disconnect();
  }
});

it('a sign-out by a process 5 min ahead reaches the ones on time and 5 min behind, and the next token (1 request) is good for all', async () => {
  const { id, secret } = tokens.addClient(`skew-${++clientNumber}`);
  const offsets = [MINUTES_5, 0, -MINUTES_5];
  fleet = await startFleet(3, (index) => ({
    redisUrl: redis.url,
    library: index === 1 ? 'ioredis' : 'redis',
    tokenUrl: tokens.tokenUrl,
    clientId: id,
    clientSecret: secret,
    clockOffset: offsets[index]!,
  }));
  const before = await Promise.all(fleet.map((member) => member.request<{ tokens: string[] }>({ cmd: 'getMany', count: 3 })));
  expect(new Set(before.flatMap((result) => result.tokens)).size).toBe(1);
  const marks = fleet.map((member) => member.events.length);
  await fleet[0]!.request({ cmd: 'clear' });
  // A sign-out is an epoch counted by Redis, not a time: no clock decides what it covers.
  await Promise.all(fleet.slice(1).map((member, index) => member.waitFor((event) => event.event === 'cleared', marks[index + 1])));
  const after = await Promise.all(fleet.map((member) => member.request<{ tokens: string[]; errors: string[] }>({ cmd: 'getMany', count: 3 })));
  expect(after.flatMap((result) => result.errors)).toEqual([]);
  const tokensAfter = new Set(after.flatMap((result) => result.tokens));
  expect(tokensAfter.size).toBe(1);
  expect(tokensAfter.has(before[0]!.tokens[0]!)).toBe(false);
  expect(tokens.stats.tokenRequests).toBe(2);
});
