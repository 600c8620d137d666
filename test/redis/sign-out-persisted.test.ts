import { expect, it } from 'vitest';
import { isSessionError } from '../../src/index.js';
import { sleep, useRedisSessions } from '../support/redis-sessions.js';

// A sign-out is persisted where the token is (an epoch beside it in Redis, incremented in the same script that
// deletes the token), so it reaches processes that missed its message: after a Pub/Sub reconnect, after a token
// request that was in flight, and after Redis lost its data.

const env = useRedisSessions('sign-out');

for (const library of ['redis', 'ioredis'] as const) {
  it(`${library}: a sign-out published while another process's Pub/Sub reconnects still reaches it`, async () => {
    const clientId = env.clientId();
    const a = await env.open(library, clientId);
    const b = await env.open(library, clientId);
    const { channel } = a.keys;
    await expect.poll(() => env.subscribers(channel)).toBe(2);
    const before = (await a.session.getToken()).accessToken;
    expect((await b.session.getToken()).accessToken).toBe(before);
    expect(env.tokens.stats.tokenRequests).toBe(1);

    // A Pub/Sub connection drop (network blip, Redis failover, `CLIENT KILL`): the clients reconnect and resubscribe
    // on their own. Pipelined on a's command connection, so the sign-out is published inside the gap.
    const kill = env.send(a.client, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
    await a.session.clear();
    await kill;
    await expect.poll(() => env.subscribers(channel), { timeout: 5_000 }).toBe(2); // both resubscribed
    await sleep(300);

    // b signed out (a `cleared` event, and never `before` again).
    const after = (await b.session.getToken()).accessToken;
    expect({ bCleared: b.cleared, bServesSignedOutToken: after === before }).toEqual({ bCleared: ['remote'], bServesSignedOutToken: false });
    expect(await env.redis.cli('GET', a.keys.epoch)).toBe('1\n');
  });
}

it('a token request in flight when another process signs out (its message lost) is neither stored nor handed out', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId);
  const first = (await a.session.getToken()).accessToken;
  env.tokens.latency = 600;
  const refresh = a.session.getToken({ forceRefresh: true }).then(
    (token) => token.accessToken,
    (error: unknown) => (isSessionError(error) ? error.code : String(error)),
  );
  await expect.poll(() => env.tokens.stats.tokenRequests).toBe(2);
  // The sign-out of a process whose message never arrives: the epoch moves, the token and the lock go.
  await env.redis.cli('EVAL', "redis.call('INCR', KEYS[1]) redis.call('DEL', KEYS[2], KEYS[3]) return 1", '3', a.keys.epoch, a.keys.token, a.keys.lock);
  expect(await refresh).toBe('aborted');
  expect(a.cleared).toEqual(['remote']);
  expect(await env.redis.cli('EXISTS', a.keys.token)).toBe('0\n');

  // Every process gets a token issued after the sign-out: one request, the same for both.
  env.tokens.latency = 0;
  const b = await env.open('ioredis', clientId);
  const [fromA, fromB] = await Promise.all([a.session.getToken(), b.session.getToken()]);
  expect(fromA.accessToken).toBe(fromB.accessToken);
  expect(fromA.accessToken).not.toBe(first);
  expect(env.tokens.stats.tokenRequests).toBe(3);
  expect(b.cleared).toEqual([]);
});

it('a process that was away during the sign-out (no subscription yet) finds it on its first read', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId);
  const token = await a.session.getToken();
  await a.session.clear();
  expect(await env.redis.cli('GET', a.keys.epoch)).toBe('1\n');
  const c = await env.open('ioredis', clientId);
  const fresh = await c.session.getToken();
  expect(fresh.accessToken).not.toBe(token.accessToken);
  expect(c.cleared).toEqual([]);
  expect(env.tokens.stats.tokenRequests).toBe(2);
});

it('Redis losing its data after a sign-out counts as a sign-out: every process drops its token, one request then', async () => {
  const clientId = env.clientId();
  const a = await env.open('redis', clientId);
  const b = await env.open('ioredis', clientId);
  await expect.poll(() => env.subscribers(a.keys.channel)).toBe(2);
  await a.session.getToken();
  await a.session.clear(); // epoch 1
  await expect.poll(() => b.cleared).toEqual(['remote']);
  const kept = (await b.session.getToken()).accessToken;
  expect((await a.session.getToken()).accessToken).toBe(kept);
  // Redis restarts without persistence (here: FLUSHALL); both Pub/Sub connections come back.
  await env.redis.cli('FLUSHALL');
  await env.redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await expect.poll(() => [a.cleared, b.cleared], { timeout: 5_000 }).toEqual([['local', 'remote'], ['remote', 'remote']]);
  const [afterA, afterB] = await Promise.all([a.session.getToken(), b.session.getToken()]);
  expect(afterA.accessToken).toBe(afterB.accessToken);
  expect(afterA.accessToken).not.toBe(kept);
  expect(env.tokens.stats.tokenRequests).toBe(3);
});

it('a getToken racing this process’s own clear() gets a token issued after it, and this process is signed out once', async () => {
  const clientId = env.clientId();
  const a = await env.open('ioredis', clientId);
  const before = await a.session.getToken();
  const [, after] = await Promise.all([a.session.clear(), a.session.getToken()]);
  expect(after.accessToken).not.toBe(before.accessToken);
  expect(a.cleared).toEqual(['local']);
  expect(await env.redis.cli('GET', a.keys.token)).toContain(after.accessToken);
  expect(env.tokens.stats.tokenRequests).toBe(2);
});
