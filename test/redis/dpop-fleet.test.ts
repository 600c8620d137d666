import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient } from 'redis';
import { importDPoPKey } from '../../src/dpop.js';
import { clientCredentials, createSession, isSessionError } from '../../src/index.js';
import { redisSharing } from '../../src/redis.js';
import { startDPoPServers, type DPoPServers } from '../support/dpop-servers.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let servers: DPoPServers;
let redis: RedisServer;

beforeAll(async () => {
  [servers, redis] = await Promise.all([startDPoPServers(), startRedisServer()]);
});
afterAll(async () => {
  await Promise.all([servers.close(), redis.stop()]);
});

// A fleet of 4 processes (the built package, Redis sharing) with one app-provided DPoP key: the fleet makes one
// token request (plus the provider's nonce challenge), and the strict API accepts every member's proofs for that token.
it('4 processes with an app-provided key: 1 token issued, every process proofs accepted, 0 replayed jti', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const { jkt } = await importDPoPKey(pem);
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    TOKEN_URL: servers.tokenUrl,
    CLIENT_ID: servers.clientId,
    CLIENT_SECRET: servers.clientSecret,
    API_URL: servers.apiUrl,
    DPOP_KEY: pem,
    CALLS: '10',
  };
  const members = await Promise.all(
    Array.from({ length: 4 }, () =>
      run(path.join(root, 'node_modules/.bin/tsx'), ['test/redis/fixtures/dpop-member.ts'], { cwd: root, env, timeout: 150_000 }),
    ),
  );
  const reports = members.map(({ stdout }) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>);
  for (const report of reports) expect(report).toMatchObject({ calls: 10, ok: 10, tokenType: 'DPoP', jkt });
  // One token for the fleet.
  expect(new Set(reports.map((report) => report.token)).size).toBe(1);
  expect(servers.counts.tokensIssued).toBe(1);
  expect(servers.counts.tokenRequests - servers.counts.tokenNonceChallenges).toBe(1);
  expect(servers.counts.apiAccepted).toBe(40);
  expect(servers.counts.apiRefused).toBe(0);
  expect(servers.counts.replayedJti).toBe(0);
  // Each member learns the API's nonce once (its own nonce store), at most.
  expect(servers.counts.apiNonceChallenges).toBeLessThanOrEqual(4);
}, 180_000);

// `dpop: true` generates a key in each process: with Redis, each member would be a credential of its own (a token
// request per process for one fleet, and with a refresh token, every member sending the one refresh token). Refused
// with invalid_options by the DPoP code on first use, before any token request; the same options with the app's key work.
it('Redis sharing with dpop: true (or a dpop object without a key): getToken rejects invalid_options, no token request', async () => {
  const client = await createClient({ url: redis.url }).connect();
  try {
    const provider = clientCredentials({ tokenUrl: servers.tokenUrl, clientId: servers.clientId, clientSecret: servers.clientSecret, scope: 'api' });
    const before = servers.counts.tokenRequests;
    for (const dpop of [true, { allowBearer: true }, { key: undefined }] as const) {
      const session = createSession({ provider, sharing: redisSharing({ client }), dpop });
      const error = await session.getToken().then(() => undefined, (e: unknown) => e);
      expect(isSessionError(error, 'invalid_options'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/redis sharing.*dpop: \{ key \}/);
      await session.close();
    }
    expect(servers.counts.tokenRequests).toBe(before);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const session = createSession({ provider, sharing: redisSharing({ client }), dpop: { key: privateKey.export({ format: 'jwk' }) as JsonWebKey } });
    expect((await session.getToken()).tokenType).toBe('DPoP');
    await session.close();
  } finally {
    await client.quit();
  }
}, 60_000);
