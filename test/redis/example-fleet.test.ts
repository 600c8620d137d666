import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let server: TokenServer;
let redis: RedisServer;

beforeAll(async () => {
  [server, redis] = await Promise.all([startTokenServer(), startRedisServer()]);
});
afterAll(async () => {
  await Promise.all([server.close(), redis.stop()]);
});

// examples/redis-fleet as its README runs it (tsx, the built package through its `exports`), 4 members at once.
it('examples/redis-fleet: 4 members × 20 calls make 1 token request', async () => {
  const client = server.addClient('example-fleet');
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    TOKEN_URL: server.tokenUrl,
    CLIENT_ID: client.id,
    CLIENT_SECRET: client.secret,
    API_URL: server.apiUrl,
    CALLS: '20',
  };
  const members = await Promise.all(
    Array.from({ length: 4 }, () =>
      run(path.join(root, 'node_modules/.bin/tsx'), ['examples/redis-fleet/member.ts'], { cwd: root, env, timeout: 150_000 }),
    ),
  );
  for (const { stdout } of members) expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ calls: 20, ok: 20 });
  expect(server.stats.issuedByClient[client.id]).toBe(1);
}, 180_000);
