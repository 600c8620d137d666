import { afterEach, describe, expect, it } from 'vitest';
import { createSession, customProvider, memorySharing, type Session } from '../../src/index.js';
import { createSessionPool, type SessionPool } from '../../src/pool.js';

const pools: SessionPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('pool: a session whose close() fails, evicted by the pool', () => {
  it('eviction does not leave an unhandled rejection behind (it would crash a Node server by default)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    // vitest's own handler would fail the run; listen first so that only this test sees it.
    const previous = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', onUnhandled);
    try {
      const pool = createSessionPool({
        max: 1,
        create(key) {
          const session = createSession({
            provider: customProvider({ key, fetchToken: () => Promise.reject(new Error('unused')) }),
            sharing: memorySharing(),
          });
          // e.g. a transport whose connection broke: closing it fails.
          return Object.assign(Object.create(session) as Session, {
            close: () => Promise.reject(new Error('transport already gone')),
          });
        },
      });
      pool.get('a');
      pool.get('b'); // evicts 'a'
      await sleep(50);
      expect(pool.stats.evictions).toBe(1);
      expect(unhandled.map((reason) => (reason as Error).message)).toEqual([]);
    } finally {
      process.removeListener('unhandledRejection', onUnhandled);
      for (const listener of previous) process.on('unhandledRejection', listener);
    }
  });
});
