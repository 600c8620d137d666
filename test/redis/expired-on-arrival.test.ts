import { expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { useRedisSessions } from '../support/redis-sessions.js';

// A token whose expiry (send time + expires_in) has passed when its response arrives is never handed out, stored or
// sent to another process: the request fails with `token_expired` (was `invalid_response`), shared with whoever waited
// for it; with no grant to keep (client credentials), it is not asked again.

const env = useRedisSessions('expired');

it('a token already expired when its response arrives: token_expired in every process, nothing stored, 1 request', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId);
  const b = await env.open('ioredis', clientId);
  await expect.poll(() => env.subscribers(a.keys.channel)).toBe(2);
  env.tokens.lifetime = 1; // expires_in: 1 …
  env.tokens.latency = 1_200; // … and a slow answer: expiresAt (sent + 1 s) has passed on arrival
  const returned: Array<{ expiresAt: number; now: number }> = [];
  const outcomes = await Promise.all(
    [a, b].map(({ session }) =>
      session.getToken().then(
        (token) => {
          returned.push({ expiresAt: token.expiresAt, now: Date.now() });
          return 'token';
        },
        (error: unknown) => (isSessionError(error) ? error.code : String(error)),
      ),
    ),
  );
  await Promise.all([a.session.close(), b.session.close()]);
  expect({ outcomes, returned, requests: env.tokens.stats.tokenRequests }).toEqual({
    outcomes: ['token_expired', 'token_expired'],
    returned: [],
    requests: 1,
  });
  expect(await env.redis.cli('EXISTS', a.keys.token)).toBe('0\n');
});
