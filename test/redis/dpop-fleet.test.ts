import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importDPoPKey } from '../../src/dpop.js';
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
