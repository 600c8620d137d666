import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterEach, beforeAll, afterAll, beforeEach, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, refreshTokenGrant, type Session, SessionError } from '../../src/index.js';
import { type RedisClient, redisSharing, type RedisSharingOptions } from '../../src/redis.js';
import { keysFor } from '../../src/sharing/redis/protocol.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// One process, real redis-server and token server: Redis stopped, paused, or holding garbage.

let tokens: TokenServer;
let redis: RedisServer;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  tokens = await startTokenServer();
});
afterAll(() => tokens.close());
beforeEach(async () => {
  tokens.reset();
  redis = await startRedisServer();
});
afterEach(async () => {
  redis.resume();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await redis.stop();
});

type Library = 'redis' | 'ioredis';
let clientNumber = 0;

async function connect(library: Library): Promise<RedisClient> {
  if (library === 'ioredis') {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    cleanups.push(() => client.disconnect());
    return client;
  }
  const client = await createClient({ url: redis.url }).on('error', () => undefined).connect();
  cleanups.push(() => client.destroy());
  return client;
}

/** A session on its own client id, sharing through a new `redisSharing` (so two of them act as two processes). */
async function open(
  library: Library,
  options: Omit<RedisSharingOptions, 'client'> = {},
  clientId = `failures-${++clientNumber}`,
): Promise<{ session: Session; errors: SessionError[]; key: string }> {
  const { secret } = tokens.addClient(clientId, `secret-of-${clientId}`);
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId, clientSecret: secret });
  const client = await connect(library);
  const session = createSession({ provider, sharing: redisSharing({ client, ...options } as RedisSharingOptions) });
  const errors: SessionError[] = [];
  session.on('error', (error) => errors.push(error));
  cleanups.push(() => session.close());
  return { session, errors, key: provider.key };
}

async function timed<T>(promise: Promise<T>): Promise<{ result: PromiseSettledResult<T>; elapsed: number }> {
  const started = Date.now();
  const [result] = await Promise.allSettled([promise]);
  return { result: result!, elapsed: Date.now() - started };
}

for (const library of ['redis', 'ioredis'] as const) {
  it(`${library}: Redis killed → each process fetches its own token (sharing_degraded), in bounded time`, async () => {
    const { session, errors } = await open(library, { commandTimeout: 500 });
    await redis.stop();
    const { result, elapsed } = await timed(session.getToken());
    expect(result.status).toBe('fulfilled');
    expect(elapsed).toBeLessThan(3_000);
    expect(tokens.stats.tokenRequests).toBe(1);
    expect(errors.map((error) => error.code)).toContain('sharing_degraded');
  });

  it(`${library}: Redis killed with onUnavailable: 'error' → sharing_unavailable, in bounded time`, async () => {
    const { session } = await open(library, { commandTimeout: 500, onUnavailable: 'error' });
    await redis.stop();
    const { result, elapsed } = await timed(session.getToken());
    expect(result.status).toBe('rejected');
    expect(isSessionError((result as PromiseRejectedResult).reason, 'sharing_unavailable')).toBe(true);
    expect(elapsed).toBeLessThan(3_000);
    expect(tokens.stats.tokenRequests).toBe(0);
  });
}

it('Redis paused (SIGSTOP) mid-call: no hang; sharing resumes when Redis answers again', async () => {
  const { session, errors, key } = await open('ioredis', { commandTimeout: 400, onUnavailable: 'error' });
  redis.pause();
  const paused = await timed(session.getToken());
  expect(paused.elapsed).toBeLessThan(3_000);
  expect(isSessionError((paused.result as PromiseRejectedResult).reason, 'sharing_unavailable')).toBe(true);
  redis.resume();
  const token = await session.getToken();
  expect(await redis.cli('GET', keysFor('shared-session:', key).token)).toContain(token.accessToken);
  // Pub/Sub may have been subscribing when Redis stopped: then `sharing_degraded` says so too.
  expect(errors.filter((error) => !['sharing_unavailable', 'sharing_degraded'].includes(error.code))).toEqual([]);
  expect(errors.map((error) => error.code)).toContain('sharing_unavailable');
});

it('Redis killed while waiting for another process: falls back after the next poll, in bounded time', async () => {
  const { session, errors, key } = await open('redis', { commandTimeout: 400, pollInterval: 200 });
  // Another process holds the lock for 30 s and never answers.
  await redis.cli('SET', keysFor('shared-session:', key).lock, 'someone-else', 'PX', '30000');
  const pending = timed(session.getToken());
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(tokens.stats.tokenRequests).toBe(0);
  await redis.stop();
  const { result, elapsed } = await pending;
  expect(result.status).toBe('fulfilled');
  expect(elapsed).toBeLessThan(4_000);
  expect(tokens.stats.tokenRequests).toBe(1);
  expect(errors.map((error) => error.code)).toContain('sharing_degraded');
});

it('waiting longer than `timeout` for another process → timeout error', async () => {
  const { session, key } = await open('redis', { timeout: 600, pollInterval: 100 });
  await redis.cli('SET', keysFor('shared-session:', key).lock, 'someone-else', 'PX', '30000');
  const { result, elapsed } = await timed(session.getToken());
  expect(isSessionError((result as PromiseRejectedResult).reason, 'timeout')).toBe(true);
  expect(elapsed).toBeLessThan(2_000);
  expect(tokens.stats.tokenRequests).toBe(0);
});

it('a corrupt record is deleted and reported (corrupt_storage), never a crash', async () => {
  const { session, errors, key } = await open('redis');
  const tokenKey = keysFor('shared-session:', key).token;
  await redis.cli('SET', tokenKey, '{"v":2,"token":{"accessToken":42}}', 'PX', '60000');
  const token = await session.getToken();
  expect(errors.map((error) => error.code)).toEqual(['corrupt_storage']);
  expect(JSON.parse(await redis.cli('GET', tokenKey))).toMatchObject({ v: 2, token: { accessToken: token.accessToken } });
  expect(tokens.stats.tokenRequests).toBe(1);
});

it('records that would never expire (no TTL) are not ours: deleted and reported, never adopted or obeyed', async () => {
  const { session, errors, key } = await open('ioredis');
  const { token: tokenKey, failure: failureKey } = keysFor('shared-session:', key);
  // A well-formed token and a remembered failure, both without a TTL: a token "valid forever", a wait "forever".
  await redis.cli('SET', tokenKey, JSON.stringify({ v: 2, token: { accessToken: 'forever', tokenType: 'Bearer', lifetime: 3_600_000 } }));
  await redis.cli('SET', failureKey, JSON.stringify({ v: 2, code: 'rate_limited', lease: 'x.y' }));
  const token = await session.getToken();
  expect(token.accessToken).not.toBe('forever');
  expect(errors.map((error) => error.code)).toEqual(['corrupt_storage', 'corrupt_storage']);
  expect(await redis.cli('EXISTS', failureKey)).toBe('0\n');
  expect(tokens.stats.tokenRequests).toBe(1);
});

it('forged or malformed Pub/Sub messages are reported (invalid_message) and never adopted', async () => {
  const { session, errors, key } = await open('ioredis');
  const token = await session.getToken();
  const { channel } = keysFor('shared-session:', key);
  await redis.cli('PUBLISH', channel, 'not json');
  await redis.cli('PUBLISH', channel, JSON.stringify({ v: 2, from: 'x', type: 'token', token: { accessToken: 'forged' } }));
  await redis.cli('PUBLISH', channel, JSON.stringify({ v: 2, from: 'x', type: 'failed', lease: 'x.y', code: 'closed' }));
  await redis.cli('PUBLISH', channel, JSON.stringify({ v: 2, from: 'x', type: 'clear', epoch: -1 }));
  await redis.cli('PUBLISH', channel, JSON.stringify({ v: 1, from: 'x', type: 'clear', at: Date.now() }));
  await expect.poll(() => errors.length).toBe(5);
  expect(errors.map((error) => error.code)).toEqual(Array(5).fill('invalid_message'));
  expect((await session.getToken()).accessToken).toBe(token.accessToken);
});

it('a failed token request is shared with the processes waiting for it (one request)', async () => {
  const clientId = `failures-${++clientNumber}`;
  const first = await open('redis', {}, clientId);
  const second = await open('ioredis', {}, clientId);
  tokens.latency = 300;
  tokens.failNext(1, 401, { body: JSON.stringify({ error: 'invalid_client' }) });
  const results = await Promise.allSettled([first.session.getToken(), second.session.getToken()]);
  expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
  for (const result of results) expect(isSessionError((result as PromiseRejectedResult).reason, 'invalid_client')).toBe(true);
  expect(tokens.stats.tokenRequests).toBe(1);
});

it('an explicit subscriber connection is used, and stays open after the session closes', async () => {
  const client = (await connect('ioredis')) as unknown as Redis;
  const subscriber = client.duplicate();
  cleanups.push(() => subscriber.disconnect());
  const clientId = `failures-${++clientNumber}`;
  // The same secret as `open` registers: one credential (the key holds a digest of the secret).
  const { secret } = tokens.addClient(clientId, `secret-of-${clientId}`);
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId, clientSecret: secret });
  const session = createSession({ provider, sharing: redisSharing({ client, subscriber }) });
  const other = await open('redis', {}, clientId);
  const cleared = new Promise((resolve) => session.on('cleared', resolve));
  await expect.poll(async () => (await redis.cli('PUBSUB', 'NUMSUB', keysFor('shared-session:', provider.key).channel)).split('\n')[1]).toBe('2');
  await other.session.clear();
  expect(await cleared).toBe('remote');
  await session.close();
  expect(subscriber.status).toBe('ready');
});

it('refuses what it cannot do safely: rotating refresh tokens, objects that are not clients, bad durations', async () => {
  const client = await connect('redis');
  const refreshing = refreshTokenGrant({ tokenUrl: tokens.tokenUrl, clientId: 'app', refreshToken: 'rt_secret' });
  expect(() => createSession({ provider: refreshing, sharing: redisSharing({ client }) })).toThrow(
    expect.objectContaining({ code: 'invalid_options' }),
  );
  const notAClient = {} as unknown as Redis;
  expect(() => redisSharing({ client: notAClient })).toThrow(SessionError);
  for (const bad of [{ leaseTime: 0 }, { timeout: -1 }, { commandTimeout: 1.5 }, { pollInterval: Infinity }]) {
    expect(() => redisSharing({ client, ...bad })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  }
  expect(() => redisSharing({ client, onUnavailable: 'ignore' as 'error' })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
});

it('types: a client of either library, with a subscriber of the same library only', () => {
  // Compile-time checks; never called.
  const check = (node: ReturnType<typeof createClient>, io: Redis): void => {
    redisSharing({ client: node, subscriber: node.duplicate() });
    redisSharing({ client: io, subscriber: io.duplicate() });
    // @ts-expect-error not a Redis client
    redisSharing({ client: { get: () => undefined } });
    // @ts-expect-error a node-redis subscriber for an ioredis client
    redisSharing({ client: io, subscriber: node });
  };
  expect(typeof check).toBe('function');
});

it('no access token in the cause of an error: the commands a client attaches to its errors (ioredis) are dropped', async () => {
  const stored: string[] = [];
  // An ioredis-shaped client whose commit fails with an error that quotes the command, as ioredis's errors do.
  const client = {
    call(command: string, ...args: string[]): Promise<unknown> {
      const script = args[0] ?? '';
      if (command === 'EVAL' && script.startsWith('return {')) return Promise.resolve([null, -2, null, null, -2]);
      if (command === 'EVAL' && script.includes("'SET', KEYS[1], ARGV[1], 'PX'")) return Promise.resolve([2, null, -2, null]);
      if (command === 'EVAL' && script.includes("'SET', KEYS[2], ARGV[2], 'PX'")) {
        stored.push(...args);
        return Promise.reject(Object.assign(new Error('ERR something went wrong'), { command: { name: 'eval', args } }));
      }
      return Promise.resolve(1);
    },
    duplicate: () => ({ subscribe: () => Promise.resolve(1), unsubscribe: () => Promise.resolve(1), on: () => undefined, disconnect: () => undefined }),
  } as unknown as Redis;
  const clientId = `failures-${++clientNumber}`;
  const { secret } = tokens.addClient(clientId);
  const session = createSession({ provider: clientCredentials({ tokenUrl: tokens.tokenUrl, clientId, clientSecret: secret }), sharing: redisSharing({ client }) });
  cleanups.push(() => session.close());
  const errors: SessionError[] = [];
  session.on('error', (error) => errors.push(error));
  const token = await session.getToken();
  expect(stored.join(' ')).toContain(token.accessToken); // the failing command carried it
  expect(errors.map((error) => error.code)).toEqual(['sharing_degraded']);
  const { inspect } = await import('node:util');
  const shown = inspect(errors, { depth: 10, showHidden: true }) + JSON.stringify(errors);
  expect(shown).toContain('ERR something went wrong');
  expect(shown).not.toContain(token.accessToken);
  expect(shown).not.toContain(secret);
});
