import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { expect, it } from 'vitest';
import type { RedisSharingOptions } from '../../src/redis.js';
import { startBlackholeProxy } from '../support/blackhole-proxy.js';
import { sleep, useRedisSessions } from '../support/redis-sessions.js';

// README (redis): "A process that missed the message — its Pub/Sub connection was dropped and reconnected … — reads
// the epoch and the token again as soon as it is subscribed again … So nothing issued before a sign-out is handed
// out by any process". A Pub/Sub connection that is cut without being closed (a NAT or load balancer dropping an idle
// flow — the subscriber is idle for the whole token lifetime —, a partition) is never reconnected: neither library
// pings it by default, and redisSharing checks nothing. Its process reads Redis only when its token reaches the
// refresh margin, so it hands out the signed-out token until then: 58 minutes for the default margin on 1 h tokens,
// while its command connection to Redis works all along. A sign-out should reach it within a bound of the order of
// `commandTimeout` (a PING on the subscriber, or an epoch read, that does not answer in time counts as a lost
// subscription, after which the process reads the epoch); 10 s here.

const env = useRedisSessions('silent-subscriber');

for (const library of ['redis', 'ioredis'] as const) {
  it(`${library}: a sign-out reaches a process whose Pub/Sub connection went silent (not closed) within 10 s`, async () => {
    const proxy = await startBlackholeProxy(env.redis.port);
    env.cleanups.push(() => proxy.close());
    // Process b's Pub/Sub connection goes through the proxy; its commands go to Redis directly.
    const subscriber =
      library === 'redis'
        ? await createClient({ url: proxy.url }).on('error', () => undefined).connect()
        : new Redis(proxy.url).on('error', () => undefined);
    env.cleanups.push(() => (subscriber instanceof Redis ? subscriber.disconnect() : subscriber.destroy()));
    const clientId = env.clientId();
    const a = await env.open(library, clientId);
    const b = await env.open(library, clientId, { subscriber } as Omit<RedisSharingOptions, 'client'>);
    await expect.poll(() => env.subscribers(a.keys.channel)).toBe(2);
    await expect.poll(() => (subscriber instanceof Redis ? subscriber.status : subscriber.isReady ? 'ready' : 'connecting')).toBe('ready');
    const before = (await a.session.getToken()).accessToken;
    expect((await b.session.getToken()).accessToken).toBe(before);
    // Everything in flight is delivered first: the `token` message of a's request makes b read Redis once.
    await sleep(1_000);

    proxy.blackhole();
    await a.session.clear();

    // Observed: b keeps handing out `before` (1 h token, refreshed 2 min before expiry) and never emits `cleared`.
    let handedOut = before;
    for (const started = Date.now(); Date.now() - started < 10_000 && handedOut === before; ) {
      await sleep(250);
      handedOut = (await b.session.getToken()).accessToken;
    }
    expect({ stillHandsOutSignedOutToken: handedOut === before, signedOut: b.cleared.includes('remote') }).toEqual({
      stillHandsOutSignedOutToken: false,
      signedOut: true,
    });
  }, 30_000);
}
