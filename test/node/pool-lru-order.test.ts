import { afterEach, describe, expect, it } from 'vitest';
import { createSession, customProvider, memorySharing, type Session, type Token } from '../../src/index.js';
import { createSessionPool, type SessionPool } from '../../src/pool.js';

const pools: SessionPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('pool LRU order: a call that finishes is the entry’s latest use', () => {
  it('an idle session behind one whose getToken finished late is still closed after idleTtl', async () => {
    let now = 0;
    const clock = { now: () => now };
    let release = undefined as ((token: Token) => void) | undefined;
    const closed: string[] = [];
    const pool = createSessionPool({
      idleTtl: 100, // the background sweep runs every 50 ms (real time); the clock is ours
      clock,
      create(key) {
        const session: Session = createSession({
          provider: customProvider({
            key,
            fetchToken: () => new Promise<Token>((resolve) => (release = resolve)),
          }),
          sharing: memorySharing(),
          clock,
        });
        const close = session.close.bind(session);
        return Object.assign(Object.create(session) as Session, {
          close: () => {
            closed.push(key);
            return close();
          },
          getToken: session.getToken.bind(session),
        });
      },
    });
    pools.push(pool);

    const slow = pool.getToken('a'); // 'a' is first in the pool's order
    pool.get('b'); // then 'b'
    while (release === undefined) await sleep(1);
    now = 90;
    release({ accessToken: 'tok-a', tokenType: 'Bearer', issuedAt: 90, expiresAt: 3_600_090 });
    await slow; // 'a' was last used at 90, 'b' at 0

    now = 150; // 'b' idle for 150 ms > idleTtl; 'a' for 60 ms
    expect(pool.has('b')).toBe(false); // the pool itself says 'b' is expired…
    await sleep(200); // …several sweeps later:
    // (Before the fix: size 2, expirations 0, 'b' still open: the sweep stopped at 'a' ("LRU order") because getToken's
    // finally updated lastUsed without moving the entry to the end of the Map.)
    expect(pool.stats).toMatchObject({ size: 1, expirations: 1 });
    expect(closed).toEqual(['b']);
  });
});

