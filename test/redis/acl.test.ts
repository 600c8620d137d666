import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { expect, it } from 'vitest';
import { clientCredentials, createSession, type SessionError } from '../../src/index.js';
import { type RedisClient, redisSharing, type RedisSharingOptions } from '../../src/redis.js';
import { requiredAcl } from '../../src/sharing/redis/permissions.js';
import { useRedisSessions } from '../support/redis-sessions.js';

// A real redis-server with real ACL users (Redis 7: a new user has no channels unless given some). The README's ACL
// is enough; a user that lacks a part of it gets `permission_denied` naming what is missing — never "Redis is
// unavailable" —, and a user without channels still signs every process out, within the liveness bound.

const env = useRedisSessions('acl');
const PREFIX = 'shared-session:';
const FULL = requiredAcl(PREFIX);

/** Creates `user` with `rules` (after `reset`: nothing but what the rules grant) and a client logged in as it. */
async function connectAs(library: 'redis' | 'ioredis', user: string, rules: string): Promise<RedisClient> {
  await env.redis.cli('ACL', 'SETUSER', user, 'reset', 'on', '>pw', ...rules.split(' '));
  const url = `redis://${user}:pw@127.0.0.1:${env.redis.port}`;
  if (library === 'ioredis') {
    const client = new Redis(url, { maxRetriesPerRequest: 1 }).on('error', () => undefined);
    env.cleanups.push(() => client.disconnect());
    return client;
  }
  const client = await createClient({ url }).on('error', () => undefined).connect();
  env.cleanups.push(() => client.destroy());
  return client;
}

async function open(client: RedisClient, clientId: string, options: Omit<RedisSharingOptions, 'client'> = {}) {
  const { secret } = env.tokens.addClient(clientId, `secret-of-${clientId}`);
  const session = createSession({
    provider: clientCredentials({ tokenUrl: env.tokens.tokenUrl, clientId, clientSecret: secret }),
    sharing: redisSharing({ client, ...options } as RedisSharingOptions),
  });
  const errors: SessionError[] = [];
  const cleared: string[] = [];
  session.on('error', (error) => errors.push(error));
  session.on('cleared', (origin) => cleared.push(origin));
  env.cleanups.push(() => session.close());
  return { session, errors, cleared };
}

const described = (errors: SessionError[]): string[] => errors.map((error) => `${error.code}: ${error.message}`);

for (const library of ['redis', 'ioredis'] as const) {
  it(`${library}: the README's ACL is enough — one token for two processes, a sign-out delivered, no error`, async () => {
    const clientId = env.clientId();
    const a = await open(await connectAs(library, 'app-a', FULL), clientId);
    const b = await open(await connectAs(library, 'app-b', FULL), clientId);
    const [one, two] = await Promise.all([a.session.getToken(), b.session.getToken()]);
    expect(one.accessToken).toBe(two.accessToken);
    expect(env.tokens.stats.tokenRequests).toBe(1);
    await a.session.clear();
    await expect.poll(() => b.cleared, { timeout: 2_000 }).toEqual(['remote']);
    expect(described([...a.errors, ...b.errors])).toEqual([]);
  });

  it(`${library}: a user without channels — the sign-out is stored and reaches the other process; permission_denied names the channels`, async () => {
    const clientId = env.clientId();
    const noChannels = FULL.replace(`&${PREFIX}*`, 'resetchannels');
    const a = await open(await connectAs(library, 'app-a', noChannels), clientId, { pollInterval: 100 });
    const b = await open(await connectAs(library, 'app-b', noChannels), clientId, { pollInterval: 100 });
    const [one, two] = await Promise.all([a.session.getToken(), b.session.getToken()]);
    expect(one.accessToken).toBe(two.accessToken);
    expect(env.tokens.stats.tokenRequests).toBe(1);

    const started = Date.now();
    await a.session.clear(); // resolves: the sign-out is stored
    // Without Pub/Sub, the other process applies it at its next epoch check: two commandTimeouts (4 s) by default.
    await expect.poll(() => b.cleared, { timeout: 8_000, interval: 50 }).toEqual(['remote']);
    const reached = Date.now() - started;
    expect(reached).toBeLessThan(6_000);
    console.warn(`acl: a sign-out reached a process without Pub/Sub in ${reached} ms`);
    expect((await b.session.getToken()).accessToken).not.toBe(one.accessToken);

    const errors = [...a.errors, ...b.errors];
    expect(errors.length).toBeGreaterThan(0);
    for (const error of errors) {
      expect(error.code).toBe('permission_denied');
      expect(error.message).toContain(`&${PREFIX}*`);
      expect(error.message).not.toMatch(/unavailable|not delivered|did not reach|could not be stored/i);
    }
  }, 30_000);

  it(`${library}: a user without the keys, or without EVAL — permission_denied naming it, at once`, async () => {
    const noKeys = FULL.replace(`~${PREFIX}*`, '~other:*');
    const strict = await open(await connectAs(library, 'app-keys', noKeys), env.clientId(), { onUnavailable: 'error' });
    const refused = await strict.session.getToken().catch((error: unknown) => error as SessionError);
    expect(refused).toMatchObject({ name: 'SessionError', code: 'permission_denied' });
    expect((refused as SessionError).message).toContain(`~${PREFIX}*`);
    expect(env.tokens.stats.tokenRequests).toBe(0);

    const noEval = FULL.replace('+eval', '');
    const local = await open(await connectAs(library, 'app-eval', noEval), env.clientId());
    await local.session.getToken(); // 'local': this process fetches its own, and says why
    expect(env.tokens.stats.tokenRequests).toBe(1);
    expect(local.errors.map((error) => error.code)).toContain('permission_denied');
    expect(local.errors.find((error) => error.code === 'permission_denied')!.message).toContain('+eval');
    expect(described(local.errors).join('\n')).not.toMatch(/Redis is unavailable/);
  });
}

it('requiredAcl lists the commands, keys and channels', () => {
  expect(FULL).toBe('~shared-session:* &shared-session:* +eval +get +set +del +pttl +pexpire +time +publish +subscribe +unsubscribe');
});
