import { expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { useRedisSessions } from '../support/redis-sessions.js';

// A sign-out epoch that is not a whole number (written by something else: a migration, a hand-edit, another tool
// under the same prefix) is corrupt storage: Lua reads it with `tonumber`, TypeScript with `Number.isSafeInteger`,
// and the two must not disagree for ever. Expected: tokens are served again (at most a sign-out and a
// `corrupt_storage` report), not every getToken failing while each sends a token request.

const env = useRedisSessions('review-corrupt-epoch');

for (const value of ['1.5', '1e3', 'abc', '9007199254740993']) {
  // bounded: each getToken is given 10 s
  it(`an epoch of ${JSON.stringify(value)} in Redis: getToken works again after at most one failure`, async () => {
    const clientId = env.clientId();
    const a = await env.open('ioredis', clientId);
    await a.session.getToken();
    await env.redis.cli('SET', a.keys.epoch, value);
    await env.redis.cli('DEL', a.keys.token); // the token expired meanwhile
    const outcomes: string[] = [];
    for (let call = 0; call < 4; call++) {
      const fresh = await env.open('redis', clientId); // a process with no token of its own
      outcomes.push(
        await Promise.race([fresh.session.getToken(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in 10 s, ${env.tokens.stats.tokenRequests} token requests`)), 10_000))]).then(
          () => 'token',
          (error: unknown) => (isSessionError(error) ? error.code : String(error instanceof Error ? error.message : error)),
        ),
      );
    }
    expect(outcomes.slice(1)).toEqual(['token', 'token', 'token']);
  }, 60_000);
}
