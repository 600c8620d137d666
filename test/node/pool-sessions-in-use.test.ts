import { describe, expect, it } from 'vitest';
import { sepalSessions, type EarthEngineExpression } from '../../src/earth-engine.js';
import { createSession, customProvider, isSessionError, memorySharing, type Session, type SessionError, type Token } from '../../src/index.js';
import { createSessionPool } from '../../src/pool.js';
import { useSepalServers } from '../support/sepal-suite.js';

const suite = useSepalServers();

const onePlusTwo: EarthEngineExpression = {
  result: '0',
  values: { '0': { functionInvocationValue: { functionName: 'Number.add', arguments: { left: { constantValue: 1 }, right: { constantValue: 2 } } } } },
};

describe('a pooled session in use is not evicted under its caller (sepalSessions on createSessionPool)', () => {
  it("another user's request arriving must not fail a request that is in progress (eviction of a session in use)", async () => {
    suite.sepal.latency = 300; // SEPAL takes a while to refresh Alice's expired Google token
    const sepalUsers = sepalSessions({ sepalHost: suite.sepal.origin, baseUrl: suite.ee.baseUrl, sharing: memorySharing() });
    const pool = createSessionPool({ max: 1, create: sepalUsers.create });
    suite.track(pool);
    const alice = suite.sepal.login('alice', { expiresIn: 0 });
    const bob = suite.sepal.login('bob');

    const aliceCall = sepalUsers.earthEngine(alice.headers, pool).operations.getInfo(onePlusTwo);
    aliceCall.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Bob's request comes in while Alice's is still waiting for her token.
    const bobCall = sepalUsers.earthEngine(bob.headers, pool).operations.getInfo(onePlusTwo);

    const [aliceResult, bobResult] = await Promise.allSettled([aliceCall, bobCall]);
    expect(bobResult).toEqual({ status: 'fulfilled', value: 3 });
    // (Before the fix: rejected with `closed`: Bob's arrival evicted Alice's session.)
    expect(aliceResult.status === 'fulfilled' ? aliceResult.value : (aliceResult.reason as { code?: string }).code).toBe(3);
  });

  it('an Earth Engine call in flight (token already in hand) holds its pooled session until it answers', async () => {
    suite.ee.latency = 300; // Alice's value:compute takes a while; her header token is fresh, so she holds no getToken
    const sepalUsers = sepalSessions({ sepalHost: suite.sepal.origin, baseUrl: suite.ee.baseUrl, sharing: memorySharing() });
    const pool = createSessionPool({ max: 1, create: sepalUsers.create });
    suite.track(pool);
    const alice = suite.sepal.login('alice');
    const bob = suite.sepal.login('bob');
    const aliceEarth = sepalUsers.earthEngine(alice.headers, pool);
    const aliceCall = aliceEarth.operations.getInfo(onePlusTwo);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const bobCall = sepalUsers.earthEngine(bob.headers, pool).operations.getInfo(onePlusTwo);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Both in flight: over max until one settles, and Alice's session is still the pool's.
    expect(pool.stats).toMatchObject({ size: 2, evictions: 0 });
    expect(pool.has(aliceEarth.user.key)).toBe(true);
    expect(await Promise.all([aliceCall, bobCall])).toEqual([3, 3]);
    expect(pool.stats).toMatchObject({ size: 1, evictions: 1 });
  });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('createSessionPool: sessions from get() count their calls in progress', () => {
  /** A pool of customProvider sessions whose token requests wait for `release`. */
  function slowPool(options: { max?: number; onError?: (error: SessionError) => void } = {}) {
    const pending: Array<(token: Token) => void> = [];
    const closed: string[] = [];
    const pool = createSessionPool({
      ...options,
      create(key) {
        const session = createSession({
          provider: customProvider({ key, fetchToken: () => new Promise<Token>((resolve) => pending.push(resolve)) }),
          sharing: memorySharing(),
        });
        const close = session.close.bind(session);
        return Object.assign(Object.create(session) as Session, {
          getToken: session.getToken.bind(session),
          close: () => {
            closed.push(key);
            return close();
          },
        });
      },
    });
    suite.track(pool);
    const release = (accessToken: string): void => {
      const now = Date.now();
      pending.shift()?.({ accessToken, tokenType: 'Bearer', issuedAt: now, expiresAt: now + 3_600_000 });
    };
    return { pool, closed, release, pending };
  }

  it('a getToken on a session from get() is not evicted under its caller; the pool evicts once it settles', async () => {
    const { pool, closed, release, pending } = slowPool({ max: 1 });
    const a = pool.get('a');
    const call = a.getToken();
    while (pending.length === 0) await sleep(1);
    pool.get('b'); // over max, but 'a' is in use: nothing is closed
    expect(pool.stats).toMatchObject({ size: 2, evictions: 0 });
    expect(closed).toEqual([]);
    release('tok-a');
    expect((await call).accessToken).toBe('tok-a');
    // 'a' was used last (its call just ended): the least recently used idle one, 'b', goes.
    await sleep(0);
    expect(pool.stats).toMatchObject({ size: 1, evictions: 1 });
    expect(closed).toEqual(['b']);
    expect(pool.has('a')).toBe(true);
  });

  it('every session in use: the pool stays above max until the calls settle, then shrinks to max', async () => {
    const { pool, release, pending } = slowPool({ max: 2 });
    const calls = ['a', 'b', 'c', 'd'].map((key) => pool.getToken(key));
    while (pending.length < 4) await sleep(1);
    expect(pool.stats).toMatchObject({ size: 4, evictions: 0 });
    for (const key of ['a', 'b', 'c', 'd']) release(`tok-${key}`);
    expect((await Promise.all(calls)).map((token) => token.accessToken)).toEqual(['tok-a', 'tok-b', 'tok-c', 'tok-d']);
    expect(pool.stats).toMatchObject({ size: 2, evictions: 2 });
    expect(['c', 'd'].every((key) => pool.has(key))).toBe(true);
  });

  it('close() of a pooled session takes it out of the pool: the next get() creates a new one', async () => {
    const { pool, closed } = slowPool();
    const first = pool.get('a');
    await first.close();
    expect(closed).toEqual(['a']);
    expect(pool.has('a')).toBe(false);
    await expect(first.getToken()).rejects.toSatisfy((error) => isSessionError(error, 'closed'));
    expect(pool.get('a')).not.toBe(first);
    expect(pool.stats).toMatchObject({ size: 1, misses: 2 });
  });

  it('a close() that fails on eviction, expiry or pool close goes to onError as a SessionError, never unhandled', async () => {
    const errors: SessionError[] = [];
    const pool = createSessionPool({
      max: 1,
      onError: (error) => errors.push(error),
      create(key) {
        const session = createSession({ provider: customProvider({ key, fetchToken: () => Promise.reject(new Error('unused')) }), sharing: memorySharing() });
        return Object.assign(Object.create(session) as Session, { close: () => Promise.reject(new Error('transport already gone')) });
      },
    });
    pool.get('a');
    pool.get('b'); // evicts 'a'
    await pool.close(); // closes 'b'
    expect(errors.map((error) => [error.name, error.code, error.message, (error.cause as Error).message])).toEqual([
      ['SessionError', 'sharing_unavailable', 'A pooled session could not be closed (eviction)', 'transport already gone'],
      ['SessionError', 'sharing_unavailable', 'A pooled session could not be closed (pool close)', 'transport already gone'],
    ]);
    // delete() is awaited by its caller: the failure is its rejection, not a report.
    const other = createSessionPool({
      onError: (error) => errors.push(error),
      create: (key) =>
        Object.assign(Object.create(createSession({ provider: customProvider({ key, fetchToken: () => Promise.reject(new Error('unused')) }), sharing: memorySharing() })) as Session, {
          close: () => Promise.reject(new Error('gone')),
        }),
    });
    other.get('x');
    await expect(other.delete('x')).rejects.toThrow('gone');
    expect(errors).toHaveLength(2);
    await other.close();
  });
});
