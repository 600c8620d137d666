import v8 from 'node:v8';
import vm from 'node:vm';
import { beforeAll, expect, it } from 'vitest';
import type { SessionError } from '../../src/index.js';
import { useRedisSessions } from '../support/redis-sessions.js';

// A token endpoint that never answers: each attempt ends at the provider's `timeout`, also when garbage is collected
// meanwhile, so the lock holder fails, tells the others, and every getToken settles; one request at a time.

const env = useRedisSessions('attempt-timeout');
/** While true, the token endpoint accepts requests and never answers (counted, with how many are open at once). */
let hang = false;
const hanging = { now: 0, max: 0 };

beforeAll(() => {
  env.tokens.route((_req, res, url) => {
    if (!hang || url.pathname !== '/token') return false;
    env.tokens.stats.tokenRequests++;
    hanging.max = Math.max(hanging.max, ++hanging.now);
    res.on('close', () => hanging.now--);
    return true;
  });
});

it('a token endpoint that never answers, with garbage collected meanwhile: every getToken fails with `timeout`, one request at a time', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const clientId = env.clientId();
  // Provider: 1 attempt of at most 500 ms. Lock: 1 s. So every getToken should fail with `timeout` within ~1 s.
  const fleet = await Promise.all(
    (['redis', 'ioredis', 'redis'] as const).map((library) =>
      env.open(library, clientId, { leaseTime: 1_000, pollInterval: 100 }, { attempts: 1, timeout: 500 }),
    ),
  );
  hang = true;
  hanging.max = 0;
  const settled: string[] = [];
  try {
    for (const { session } of fleet) session.getToken().then(() => settled.push('token'), (error: SessionError) => settled.push(error.code));
    const collector = setInterval(gc, 50); // any busy server collects garbage within 500 ms
    try {
      // ~3 s on an idle machine (three 1 s leases one after another); the bound is the leases', not this wait's: wait
      // for the three to settle (bounded), so that a busy machine running other files beside this one does not fail it.
      await expect.poll(() => settled.length, { timeout: 20_000, interval: 100 }).toBe(3);
    } finally {
      clearInterval(collector);
    }
  } finally {
    hang = false;
  }
  // 3 `timeout` errors, one request at a time.
  expect({ settled, concurrentRequests: hanging.max }).toEqual({ settled: ['timeout', 'timeout', 'timeout'], concurrentRequests: 1 });
});
