import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { startDPoPServers, type DPoPServers } from '../support/dpop-servers.js';

// Real Deno running the packed package: client credentials with DPoP (RFC 9449) against oidc-provider with DPoP
// required and nonces on, and the strict API (test/support/dpop-servers.ts).

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let servers: DPoPServers;
let app = '';

beforeAll(async () => {
  servers = await startDPoPServers();
  app = await denoApp('deno-dpop', path.join(import.meta.dirname, 'fixtures'));
}, 120_000);
afterAll(async () => {
  await servers?.close();
});

it('Deno: a DPoP token bound to the process key, every API call accepted, nonce challenges answered once', async () => {
  const config = { tokenUrl: servers.tokenUrl, apiUrl: servers.apiUrl, clientId: servers.clientId, clientSecret: servers.clientSecret };
  const { stdout } = await run(DENO, ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'dpop.ts', JSON.stringify(config)], {
    cwd: app,
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const line = stdout.split('\n').find((each) => each.startsWith('RESULT '));
  expect(line, stdout).toBeDefined();
  const result = JSON.parse(line!.slice('RESULT '.length)) as { tokenType: string; statuses: number[]; jkt: string; accessToken: string };
  expect(result.tokenType).toBe('DPoP');
  expect(result.statuses).toEqual([200, 200, 200, 200, 200]);
  expect(await servers.boundKey(result.accessToken)).toBe(result.jkt);
  expect(servers.counts).toMatchObject({ tokensIssued: 1, tokenNonceChallenges: 1, tokenRequests: 2, apiNonceChallenges: 1, apiAccepted: 5, apiRefused: 0, replayedJti: 0 });
}, 120_000);
