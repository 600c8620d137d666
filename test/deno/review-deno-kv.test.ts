import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';
import { startTokenServer, type TokenServer } from '../support/token-server.js';

/**
 * Adversarial review of `denoKvSharing` (issue 27), in real Deno: `review-deno-kv/review_kv_test.ts` runs several
 * sessions on one KV against a token endpoint it serves itself — epoch records lost or unreadable, clock skew; and
 * `review-deno-kv/loop.ts` processes on one KV file whose SQLite write lock another process holds (`lock.ts`), as a
 * holder frozen (SIGSTOP) inside a KV write does.
 */

const root = path.resolve(import.meta.dirname, '../..');
let app = '';
let server: TokenServer;

beforeAll(async () => {
  server = await startTokenServer();
  app = await denoApp('review-deno-kv-app', path.join(import.meta.dirname, 'review-deno-kv'));
  mkdirSync(path.join(app, 'node_modules/@types'));
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
}, 120_000);

afterAll(async () => {
  await server?.close();
});

interface Call {
  readonly at: number;
  readonly took: number;
  readonly token?: string;
  readonly code?: string;
}

/** Runs a Deno fixture; resolves with its stdout once it exits (or is killed after `limit` ms). */
function deno(args: string[], limit: number, onLine?: (line: string) => void): Promise<{ stdout: string; code: number | null }> {
  const child = spawn(DENO, ['run', '--cached-only', ...args], { cwd: app, env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const line of chunk.toString().split('\n')) if (line !== '') onLine?.(line);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), limit);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ stdout, code });
    }),
  );
}

it('the KV file write-locked for 12 s by another process (a holder frozen inside a KV write): calls fail sharing_unavailable within their bound, then recover', async () => {
  server.reset();
  server.lifetime = 3;
  const client = server.addClient('review-lock-app', 'review-lock-secret-0c9d');
  const kvPath = path.join(app, 'kv-lock.sqlite');
  const config = { tokenUrl: server.tokenUrl, clientId: client.id, clientSecret: client.secret, kvPath, leaseTime: 2_000, pollInterval: 250, refreshBeforeExpiry: 1_000, duration: 24_000, every: 200 };
  const permissions = ['--unstable-kv', '--allow-net=127.0.0.1', `--allow-read=${root}`, `--allow-write=${app}`];
  const processes = [0, 1].map(() => deno([...permissions, 'loop.ts', JSON.stringify(config)], 60_000));
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  let lockedAt = 0;
  let unlockedAt = 0;
  const lock = await deno([`--allow-read=${app}`, `--allow-write=${app}`, 'lock.ts', kvPath, '12000'], 30_000, (line) => {
    if (line === 'LOCKED') lockedAt = Date.now();
    if (line === 'UNLOCKED') unlockedAt = Date.now();
  });
  expect(lock.code).toBe(0);
  const results = await Promise.all(processes);
  for (const result of results) {
    expect(result.code, result.stdout).toBe(0); // it ended on its own: nothing left blocked on KV
    const line = result.stdout.split('\n').find((each) => each.startsWith('RESULT '))!;
    const { calls } = JSON.parse(line.slice('RESULT '.length)) as { calls: Call[] };
    const during = calls.filter((call) => call.at + call.took > lockedAt + 3_000 && call.at < unlockedAt);
    // While KV cannot be written: a typed failure, never a hang (each KV call is bounded by 10 s).
    expect(calls.filter((call) => call.code !== undefined).every((call) => call.code === 'sharing_unavailable')).toBe(true);
    expect(during.some((call) => call.code === 'sharing_unavailable')).toBe(true);
    expect(Math.max(...calls.map((call) => call.took))).toBeLessThan(21_000);
    // Once the lock is gone: tokens again within a few seconds, no expired one in between.
    const recovered = calls.find((call) => call.token !== undefined && call.at > unlockedAt);
    expect(recovered).toBeDefined();
    expect(recovered!.at - unlockedAt).toBeLessThan(3_000);
  }
  expect(server.stats.apiUnauthorized).toBe(0);
}, 120_000);
