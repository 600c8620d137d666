import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { clientCredentials, createSession, type SessionError } from '../../src/index.js';
import { type RedisClient, redisSharing } from '../../src/redis.js';
import { REQUIRED_COMMANDS, requiredAcl } from '../../src/sharing/redis/permissions.js';
import { sleep, useRedisSessions } from '../support/redis-sessions.js';

// A Redis user missing one command of the README's ACL, one at a time. A Lua script that fails half-way keeps what
// it wrote before the failing call (Redis scripts are not rolled back). Whatever is missing, a token handed out before
// a sign-out must never be handed out after it, by any process: a sign-out that fails must fail before it moves the
// epoch, or move it only after the token is gone.

const env = useRedisSessions('review-acl-partial');
const PREFIX = 'shared-session:';

async function connectAs(user: string, rules: string): Promise<RedisClient> {
  await env.redis.cli('ACL', 'SETUSER', user, 'reset', 'on', '>pw', ...rules.split(' '));
  const client = new Redis(`redis://${user}:pw@127.0.0.1:${env.redis.port}`, { maxRetriesPerRequest: 1 }).on('error', () => undefined);
  env.cleanups.push(() => client.disconnect());
  return client;
}

async function open(client: RedisClient, clientId: string) {
  const { secret } = env.tokens.addClient(clientId, `secret-of-${clientId}`);
  const session = createSession({
    provider: clientCredentials({ tokenUrl: env.tokens.tokenUrl, clientId, clientSecret: secret }),
    sharing: redisSharing({ client, commandTimeout: 500 }),
  });
  const errors: SessionError[] = [];
  session.on('error', (error) => errors.push(error));
  env.cleanups.push(() => session.close());
  return { session, errors };
}

for (const missing of REQUIRED_COMMANDS.filter((command) => !['subscribe', 'unsubscribe', 'eval'].includes(command))) {
  it(`a user without +${missing}: no process hands out a token from before a sign-out`, async () => {
    const clientId = env.clientId();
    const rules = requiredAcl(PREFIX).replace(` +${missing}`, '');
    const a = await open(await connectAs('app-a', rules), clientId);
    const b = await open(await connectAs('app-b', rules), clientId);
    const before = (await a.session.getToken()).accessToken;
    await b.session.getToken();
    await a.session.clear().catch(() => undefined);
    await sleep(1_500); // past the liveness bound (2 × commandTimeout)
    const after = await Promise.all(
      [a, b].map((process) => process.session.getToken().then((token) => token.accessToken, (error: SessionError) => error.code)),
    );
    // A sign-out Redis refused is reported (permission_denied: "did not reach other processes"), so b is excused; a,
    // which signed out, never hands out what it had before. A sign-out Redis took reaches b too.
    const refused = a.errors.some((error) => error.code === 'permission_denied' && /did not reach other processes/.test(error.message));
    expect({ aHandsOutOld: after[0] === before, bHandsOutOld: after[1] === before && !refused }).toEqual({
      aHandsOutOld: false,
      bHandsOutOld: false,
    });
  });
}
