import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createSession, isSessionError, memorySharing, type Session, type Sharing, type Token } from '../../src/index.js';
import { createSessionPool, type SessionPool } from '../../src/pool.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const USERS = 1000;

let server: TokenServer;
const secrets = new Map<string, string>();
const pools: SessionPool[] = [];

beforeAll(async () => {
  server = await startTokenServer();
  for (let index = 0; index < USERS; index++) {
    const { id, secret } = server.addClient(`user-${index}`);
    secrets.set(id, secret);
  }
});
afterAll(() => server.close());
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  server.reset();
});

/** A pool whose sessions authenticate as the user named by the key (one registered client per user). */
function pool(options: { max?: number; idleTtl?: number; clock?: { now(): number } } = {}) {
  const sharing: Sharing = memorySharing();
  const created: string[] = [];
  const created_pool = createSessionPool({
    ...options,
    create(key) {
      created.push(key);
      return createSession({
        // Attempts time out after 60 s, not the default 10 s: the promise here is the number of token requests, not
        // time, and on a busy machine 1,000 concurrent requests to one local server can take longer than 10 s; a
        // client-credentials attempt that times out is retried (a second request, by design), which is not under test.
        provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: key, clientSecret: secrets.get(key)!, timeout: 60_000 }),
        sharing,
      });
    },
  });
  pools.push(created_pool);
  return { pool: created_pool, created };
}

/** Calls the protected API with `token`; the server answers with the client the token was issued to. */
async function whoAmI(token: Token): Promise<string> {
  const response = await fetch(server.apiUrl, { headers: { authorization: `Bearer ${token.accessToken}` } });
  expect(response.status).toBe(200);
  return ((await response.json()) as { client: string }).client;
}

/** Runs `tasks` with at most `limit` in flight, so that the test server is not flooded with sockets. */
async function inBatches<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < tasks.length; start += limit) {
    results.push(...(await Promise.all(tasks.slice(start, start + limit).map((task) => task()))));
  }
  return results;
}

describe('createSessionPool', () => {
  it('1,000 users × 10 concurrent calls → exactly 1,000 token requests, each call with its own user’s token', { timeout: 90_000 }, async () => {
    const { pool: users } = pool({ max: USERS });
    const keys = Array.from({ length: USERS }, (_, index) => `user-${index}`);
    const calls = keys.flatMap((key) => Array.from({ length: 10 }, () => users.getToken(key).then((token) => ({ key, token }))));
    const results = await Promise.all(calls);

    expect(server.stats.tokenRequests).toBe(USERS);
    expect(Object.keys(server.stats.issuedByClient)).toHaveLength(USERS);
    expect(Object.values(server.stats.issuedByClient).every((count) => count === 1)).toBe(true);
    // The 10 calls of a user share one token, and no two users share one.
    const byUser = new Map<string, Set<string>>();
    for (const { key, token } of results) {
      let set = byUser.get(key);
      if (set === undefined) byUser.set(key, (set = new Set()));
      set.add(token.accessToken);
    }
    expect([...byUser.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set(results.map((result) => result.token.accessToken)).size).toBe(USERS);
    // Every API call carries its own user's token, as the server sees it.
    const seen = await inBatches(results.map(({ key, token }) => async () => [key, await whoAmI(token)] as const), 200);
    expect(seen.filter(([key, client]) => key !== client)).toEqual([]);
    expect(server.stats.apiCalls).toBe(USERS * 10);

    expect(users.stats).toEqual({ size: USERS, hits: USERS * 10 - USERS, misses: USERS, evictions: 0, expirations: 0 });
  });

  it('evicts the least recently used session with close(); a re-created session gets its own user’s token again', async () => {
    const { pool: users, created } = pool({ max: 50 });
    const keys = Array.from({ length: 200 }, (_, index) => `user-${index}`);
    const first = new Map<string, Session>();
    for (const key of keys) {
      first.set(key, users.get(key));
      expect(await whoAmI(await users.getToken(key))).toBe(key);
    }
    expect(users.stats.size).toBe(50);
    expect(users.stats.evictions).toBe(150);
    // An evicted session was closed: it cannot be used by mistake for anyone.
    await expect(first.get('user-0')!.getToken()).rejects.toSatisfy((error) => isSessionError(error, 'closed'));
    expect(users.has('user-0')).toBe(false);
    expect(users.has('user-199')).toBe(true);

    // Re-create the evicted users in the reverse order, concurrently: each gets a new token of its own.
    server.resetStats();
    const again = await Promise.all(keys.slice(0, 150).reverse().map(async (key) => [key, await users.getToken(key)] as const));
    expect(server.stats.tokenRequests).toBe(150);
    const seen = await inBatches(again.map(([key, token]) => async () => [key, await whoAmI(token)] as const), 100);
    expect(seen.filter(([key, client]) => key !== client)).toEqual([]);
    expect(created.filter((key) => key === 'user-0')).toHaveLength(2);
    expect(users.stats.size).toBe(50);
  });

  it('a recently used session survives eviction; a session in use by getToken is never closed under its caller', async () => {
    server.latency = 300;
    const { pool: users } = pool({ max: 2 });
    const slow = users.getToken('user-1'); // in flight for 300 ms
    users.get('user-2');
    users.get('user-3'); // over max: user-1 is busy, so user-2 (idle, least recent) goes
    expect(users.has('user-1')).toBe(true);
    expect(users.has('user-2')).toBe(false);
    expect(await whoAmI(await slow)).toBe('user-1');
    expect(users.stats.size).toBe(2);
    expect(users.stats.evictions).toBe(1);
  });

  it('closes sessions idle for idleTtl, on lookup and in the background', async () => {
    let now = 1_000_000;
    const { pool: users, created } = pool({ idleTtl: 60_000, clock: { now: () => now } });
    await users.getToken('user-1');
    now += 59_000;
    await users.getToken('user-1'); // still fresh: a hit, and it renews the idle timer
    now += 59_000;
    expect(users.has('user-1')).toBe(true);
    now += 1_000;
    expect(users.has('user-1')).toBe(false);
    expect(await whoAmI(await users.getToken('user-1'))).toBe('user-1');
    expect(created).toEqual(['user-1', 'user-1']);
    expect(users.stats).toMatchObject({ hits: 1, misses: 2, expirations: 1, size: 1 });

    // Real timers: the background sweep closes idle sessions without any lookup.
    const { pool: shortLived } = pool({ idleTtl: 100 });
    const session = shortLived.get('user-2');
    await session.getToken();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(shortLived.stats).toMatchObject({ size: 0, expirations: 1 });
    await expect(session.getToken()).rejects.toSatisfy((error) => isSessionError(error, 'closed'));
  });

  it('delete() and close() close the sessions; bad input is a typed error', async () => {
    const { pool: users } = pool();
    const session = users.get('user-1');
    expect(await users.delete('user-1')).toBe(true);
    expect(await users.delete('user-1')).toBe(false);
    await expect(session.getToken()).rejects.toSatisfy((error) => isSessionError(error, 'closed'));
    const other = users.get('user-2');
    await users.close();
    await expect(other.getToken()).rejects.toSatisfy((error) => isSessionError(error, 'closed'));
    expect(() => users.get('user-3')).toThrow(expect.objectContaining({ code: 'closed' }));

    const create = () => createSession({ provider: clientCredentials({ tokenUrl: server.tokenUrl, clientId: 'x', clientSecret: 'y' }) });
    for (const bad of [{ max: 0 }, { max: 1.5 }, { idleTtl: 0 }, { idleTtl: Number.NaN }]) {
      expect(() => createSessionPool({ create, ...bad })).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    }
    expect(() => createSessionPool({} as never)).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    const { pool: fresh } = pool();
    expect(() => fresh.get('')).toThrow(expect.objectContaining({ code: 'invalid_options' }));
  });
});
