import { Redis } from 'ioredis';
import type { createClient } from 'redis';
import { expect, it } from 'vitest';
import { clientCredentials, createSession } from '../../src/index.js';
import { redisSharing, type RedisSharingOptions } from '../../src/redis.js';
import { sleep, useRedisSessions } from '../support/redis-sessions.js';

// One Pub/Sub connection passed to several redisSharing (modules of one app): each channel is subscribed while any
// of them listens on it, and closing one never deafens another.

const env = useRedisSessions('subscriber');

for (const library of ['redis', 'ioredis'] as const) {
  it(`${library}: two redisSharing on one borrowed subscriber: closing one session leaves the other subscribed`, async () => {
    const clientId = env.clientId();
    const client = await env.connect(library);
    let subscriber: unknown;
    if (client instanceof Redis) {
      subscriber = client.duplicate();
      (subscriber as Redis).on('error', () => undefined);
      env.cleanups.push(() => (subscriber as Redis).disconnect());
    } else {
      subscriber = await (client as ReturnType<typeof createClient>).duplicate().on('error', () => undefined).connect();
      env.cleanups.push(() => (subscriber as ReturnType<typeof createClient>).destroy());
    }
    const { secret } = env.tokens.addClient(clientId, `secret-of-${clientId}`);
    const provider = (): ReturnType<typeof clientCredentials> =>
      clientCredentials({ tokenUrl: env.tokens.tokenUrl, clientId, clientSecret: secret });
    // Two modules of one app, each with its own redisSharing, both on the app's one Pub/Sub connection.
    const first = createSession({ provider: provider(), sharing: redisSharing({ client, subscriber } as RedisSharingOptions) });
    const second = createSession({ provider: provider(), sharing: redisSharing({ client, subscriber } as RedisSharingOptions) });
    env.cleanups.push(() => second.close());
    const cleared: string[] = [];
    second.on('cleared', (origin) => cleared.push(origin));
    const other = await env.open('redis', clientId);
    const { channel } = other.keys;
    await expect.poll(() => env.subscribers(channel)).toBe(2);
    await Promise.all([first.getToken(), second.getToken()]);

    await first.close(); // the other module's session is still open
    await sleep(300);
    await other.session.clear();
    await sleep(1_000);
    // `second` hears the sign-out: the channel stays subscribed for it.
    expect({ subscribers: await env.subscribers(channel), cleared }).toEqual({ subscribers: 2, cleared: ['remote'] });

    // After the last one closes, the borrowed connection stays open but leaves the channel.
    await second.close();
    await expect.poll(() => env.subscribers(channel)).toBe(1);
    expect(client instanceof Redis ? (subscriber as Redis).status : (subscriber as ReturnType<typeof createClient>).isOpen).toBe(
      client instanceof Redis ? 'ready' : true,
    );
  });
}

it('node-redis: the app’s own listener on the same channel and connection is left alone', async () => {
  const clientId = env.clientId();
  const client = (await env.connect('redis')) as ReturnType<typeof createClient>;
  const subscriber = await client.duplicate().on('error', () => undefined).connect();
  env.cleanups.push(() => subscriber.destroy());
  const { secret } = env.tokens.addClient(clientId, `secret-of-${clientId}`);
  const provider = clientCredentials({ tokenUrl: env.tokens.tokenUrl, clientId, clientSecret: secret });
  const session = createSession({ provider, sharing: redisSharing({ client, subscriber }) });
  const other = await env.open('ioredis', clientId);
  const heard: string[] = [];
  await subscriber.subscribe(other.keys.channel, (message) => heard.push(message));
  await session.getToken();
  await session.close();
  await other.session.clear();
  // The app hears the sign-out (after the token message of the getToken above).
  await expect.poll(() => heard.map((message) => (JSON.parse(message) as { type: string }).type)).toEqual(['token', 'clear']);
});
