import { createCluster } from 'redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clientCredentials, createSession, type Session, type SessionError } from '../../src/index.js';
import { redisSharing } from '../../src/redis.js';
import { type RedisCluster, startRedisCluster } from '../support/redis-cluster.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

// README (redis): "`client`: a connected `redis` or `ioredis` client"; "the `{…}` hash tag keeps them in one Cluster
// slot"; src/sharing/redis/client.ts: "checked at run time: a wrong object is `invalid_options`". With ioredis's
// `Cluster` on a local 3-master cluster, redisSharing works (measured: 3 processes on 3 nodes, 1 token request, a
// sign-out reaches the 2 others, 1 request after it). node-redis's `createCluster()` client passes the run-time check
// (it has `sendCommand` and `duplicate`), but its `sendCommand` is `(firstKey, isReadonly, args)`: every script
// fails, and each process reports "Redis is unavailable: this process fetched its own token" — with Redis up — and
// fetches its own token: one request per process, silently in production. Either work (one token for both) or refuse
// the client at once (`invalid_options`); not a misleading outage and per-process logins.

let cluster: RedisCluster;
let tokens: TokenServer;

beforeAll(async () => {
  cluster = await startRedisCluster();
  tokens = await startTokenServer();
});

afterAll(async () => {
  await tokens?.close();
  await cluster?.stop();
});

it("node-redis createCluster() as the client: one token request for two processes, or invalid_options at once — never a false 'Redis is unavailable'", async () => {
  const { id, secret } = tokens.addClient('node-redis-cluster');
  const provider = clientCredentials({ tokenUrl: tokens.tokenUrl, clientId: id, clientSecret: secret });
  const clients = await Promise.all(
    [0, 1].map(() => createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${cluster.ports[0]}` }] }).on('error', () => undefined).connect()),
  );
  const sessions: Session[] = [];
  const errors: SessionError[] = [];
  try {
    for (const client of clients) {
      let sharing;
      try {
        sharing = redisSharing({ client: client as unknown as Parameters<typeof redisSharing>[0]['client'] });
      } catch (error) {
        // Refusing the client is a correct answer too.
        expect(error).toMatchObject({ name: 'SessionError', code: 'invalid_options' });
        return;
      }
      const session = createSession({ provider, sharing });
      session.on('error', (error) => errors.push(error));
      sessions.push(session);
    }
    const got = await Promise.all(sessions.map((session) => session.getToken()));
    expect(errors.map((error) => `${error.code}: ${error.message}`)).toEqual([]);
    expect(tokens.stats.tokenRequests).toBe(1);
    expect(got[0]!.accessToken).toBe(got[1]!.accessToken);
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
    for (const client of clients) client.destroy();
  }
});
