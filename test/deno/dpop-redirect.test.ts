import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { expectRedirectRule, type RedirectResult } from '../support/dpop-redirect-expectations.js';
import { startRedirectServers, type RedirectServers } from '../support/dpop-redirect-servers.js';

// Real Deno running the packed package: the DPoP redirect rule (src/dpop/resource-request.ts), proven in Node by
// test/node/dpop-redirect-new-proof-per-hop.test.ts, holds in Deno's fetch too (its `redirect: 'manual'` shows
// `Location`): a new proof per same-origin hop, 5 hops at most, nothing of ours to another origin.

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let servers: RedirectServers;
let app = '';

beforeAll(async () => {
  servers = await startRedirectServers();
  app = await denoApp('deno-dpop-redirect', path.join(import.meta.dirname, 'fixtures'));
}, 120_000);
afterAll(async () => {
  await servers?.close();
});

it('Deno: same-origin redirects followed with a new proof per hop (≤ 5), another origin reached without token or proof', async () => {
  const { stdout } = await run(DENO, ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'dpop-redirect.ts', servers.origin], {
    cwd: app,
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const line = stdout.split('\n').find((each) => each.startsWith('RESULT '));
  expect(line, stdout).toBeDefined();
  expectRedirectRule(JSON.parse(line!.slice('RESULT '.length)) as RedirectResult, servers);
}, 120_000);
