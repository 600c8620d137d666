import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { startRedisServer } from '../support/redis-server.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';
import type { Answer, Config } from './fixtures/protocol.js';

/**
 * Real Deno (the `deno` npm package's binary) running the packed package from an app's node_modules, imported both
 * as `npm:shared-session` and as `shared-session`. Each scenario is one `deno run` of fixtures/main.ts (with its
 * workers) against the real local token server; the server's counters are the proof.
 */

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let app = '';
const deno = DENO;

let server: TokenServer;
let config: Config;
const outputs: string[] = [];

beforeAll(async () => {
  server = await startTokenServer();
  const client = server.addClient('deno-app', 'deno-client-secret-0f3a9c');
  config = { tokenUrl: server.tokenUrl, apiUrl: server.apiUrl, clientId: client.id, clientSecret: client.secret };
  app = await denoApp('deno-app', path.join(import.meta.dirname, 'fixtures'));
  // Deno type-checks `node:` imports (node:assert in session_test.ts) with @types/node, as an app would install it.
  mkdirSync(path.join(app, 'node_modules/@types'));
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
}, 120_000);

afterAll(async () => {
  await server?.close();
});

/** Runs one scenario; returns what main.ts reported and how long the process lived. */
async function scenario<T>(name: string, overrides: Partial<Config> = {}): Promise<{ result: T; ms: number }> {
  const started = Date.now();
  const child = await run(
    deno,
    // Only what the package needs: the token server and API on loopback, and reading the app's modules.
    ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'main.ts', name, JSON.stringify({ ...config, ...overrides })],
    { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  ).catch((error: { stdout?: string; stderr?: string; killed?: boolean; signal?: string }) => {
    throw new Error(`deno run main.ts ${name} failed (${error.killed === true ? `killed: ${error.signal}` : 'exit'}):\n${error.stderr ?? ''}`);
  });
  outputs.push(child.stdout, child.stderr);
  const line = child.stdout.split('\n').find((each) => each.startsWith('RESULT '));
  if (line === undefined) throw new Error(`no RESULT from ${name}:\n${child.stdout}\n${child.stderr}`);
  return { result: JSON.parse(line.slice('RESULT '.length)) as T, ms: Date.now() - started };
}

const sameToken = (answers: readonly Answer[]): string => {
  const tokens = new Set(answers.flatMap((answer) => answer.tokens));
  expect(tokens.size).toBe(1);
  return [...tokens][0]!;
};

it('the packed package type-checks in Deno (deno check, types from node_modules)', async () => {
  await run(deno, ['check', '--cached-only', 'main.ts', 'worker.ts', 'session_test.ts', 'fleet.ts'], { cwd: app, timeout: 60_000 });
});

it('200 async tasks in the main module + 4 workers × 50 → 1 token request, one leader', async () => {
  server.reset();
  const { result } = await scenario<{ contexts: Answer[]; leaders: number }>('burst');
  expect(server.stats.tokenRequests).toBe(1);
  sameToken(result.contexts);
  expect(result.contexts.flatMap((answer) => answer.failures)).toEqual([]);
  expect(result.contexts.flatMap((answer) => answer.apiStatuses)).toEqual([200, 200, 200, 200, 200]);
  expect(result.contexts.reduce((sum, answer) => sum + answer.authenticated, 0)).toBe(1);
  expect(result.leaders).toBe(1);
});

it('3 s tokens for 8 s across the main module and 2 workers: refreshed ahead, about one request per half-life, no failed call', async () => {
  server.reset();
  server.lifetime = 3;
  const { result } = await scenario<{ contexts: Answer[] }>('refresh');
  const requests = server.stats.tokenRequests;
  // refreshBeforeExpiry (120 s) is clamped to half the lifetime: a new token every 1.5 s, 8 s / 1.5 s ≈ 5–6.
  expect(requests).toBeGreaterThanOrEqual(4);
  expect(requests).toBeLessThanOrEqual(8);
  expect(result.contexts.flatMap((answer) => answer.failures)).toEqual([]);
  expect(result.contexts.flatMap((answer) => answer.apiStatuses).every((status) => status === 200)).toBe(true);
  expect(server.stats.apiUnauthorized).toBe(0);
  // Every token the server issued was used by someone: no request was a duplicate.
  expect(new Set(result.contexts.flatMap((answer) => answer.tokens)).size).toBe(requests);
  expect(result.contexts.reduce((sum, answer) => sum + answer.authenticated, 0)).toBe(requests);
});

it('the leader worker terminated → another worker leads with the token it has (no second login), then refreshes it', async () => {
  server.reset();
  server.lifetime = 6;
  const { result } = await scenario<{ before: Answer[]; after: Answer[]; successor: number; refreshed: Answer }>('takeover');
  const token = sameToken(result.before);
  expect(sameToken(result.after)).toBe(token);
  expect(result.after.filter((answer) => answer.leader)).toHaveLength(1);
  expect(result.after.flatMap((answer) => answer.failures)).toEqual([]);
  // The one login of the first leader, and the successor's refresh ahead of expiry: nothing else.
  expect(result.refreshed.authenticated).toBe(1);
  expect(server.stats.tokenRequests).toBe(2);
});

it('clear() in one worker signs out the main module and the other worker; the next call gets a new token once', async () => {
  server.reset();
  const { result } = await scenario<{ first: Answer[]; cleared: Answer[]; second: Answer[] }>('clear');
  const first = sameToken(result.first);
  expect(result.cleared.map((answer) => answer.cleared)).toEqual([['remote'], ['local'], ['remote']]);
  const tokensAfter = new Set(result.second.flatMap((answer) => answer.tokens.filter((token) => token !== first)));
  expect(tokensAfter.size).toBe(1);
  expect(server.stats.tokenRequests).toBe(2);
});

it('typed errors: a malformed token response, an endpoint that is down; npm: and bare specifiers are one module', async () => {
  server.reset();
  server.respondNextWith('{"access_token": 42, "token_type": "Bearer"}');
  const { result } = await scenario<{
    malformed: { name: string; code: string; message: string; isSessionError: boolean };
    down: { name: string; code: string; message: string; isSessionError: boolean };
    sameModule: boolean;
  }>('errors');
  expect(result.malformed).toMatchObject({ name: 'SessionError', code: 'invalid_response', isSessionError: true });
  expect(result.down).toMatchObject({ name: 'SessionError', code: 'endpoint_unavailable', isSessionError: true });
  expect(result.sameModule).toBe(true);
});

it('a script that closes its session exits at once (nothing left holding Deno)', async () => {
  server.reset();
  const { result, ms } = await scenario<{ context: Answer }>('exit');
  expect(result.context.tokens).toHaveLength(1);
  expect(server.stats.tokenRequests).toBe(1);
  expect(ms).toBeLessThan(10_000);
});

it('deno test with node:assert: concurrent calls in one context, sign-out, and a typed error for each failure', async () => {
  server.reset();
  server.route((req, res, url) => {
    if (url.pathname === '/malformed') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token": 42}');
      return true;
    }
    if (url.pathname === '/busy') {
      res.writeHead(429, { 'retry-after': '120' }).end();
      return true;
    }
    return false;
  });
  const child = await run(
    deno,
    ['test', '--cached-only', '--allow-net=127.0.0.1', 'session_test.ts', '--', JSON.stringify(config)],
    { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
  ).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno test failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });
  outputs.push(child.stdout, child.stderr);
  expect(child.stdout).toMatch(/ok \| 5 passed \| 0 failed/);
  // The first case's two authentications; the failing cases never reached /token.
  expect(server.stats.tokenRequests).toBe(2);
});

it('Deno servers of a fleet share one token through Redis (redisSharing, node-redis): 2 processes × 100 calls → 1 request', async () => {
  server.reset();
  const redis = await startRedisServer();
  try {
    const fleet = (): Promise<{ stdout: string; stderr: string }> =>
      run(
        deno,
        // node-redis (not this package) reads environment variables: --allow-env.
        ['run', '--cached-only', '--allow-net=127.0.0.1', `--allow-read=${root}`, '--allow-env', 'fleet.ts', redis.url, JSON.stringify(config)],
        { cwd: app, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
      );
    const children = await Promise.all([fleet(), fleet()]);
    outputs.push(...children.flatMap((child) => [child.stdout, child.stderr]));
    const results = children.map((child) => {
      const line = child.stdout.split('\n').find((each) => each.startsWith('RESULT '));
      return JSON.parse(line!.slice('RESULT '.length)) as { tokens: string[]; authenticated: number };
    });
    expect(server.stats.tokenRequests).toBe(1);
    expect(new Set(results.flatMap((result) => result.tokens)).size).toBe(1);
    expect(results.map((result) => result.authenticated).sort()).toEqual([0, 1]);
  } finally {
    await redis.stop();
  }
});

it('no client secret in anything Deno printed', () => {
  expect(outputs.join('\n')).not.toContain(config.clientSecret);
});
