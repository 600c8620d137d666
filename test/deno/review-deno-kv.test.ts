import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, expect, it } from 'vitest';
import { DENO, denoApp } from '../support/deno-app.js';

/**
 * Adversarial review of `denoKvSharing` (issue 27), in real Deno: `review-deno-kv/review_kv_test.ts` runs several
 * sessions on one KV against a token endpoint it serves itself — epoch records lost or unreadable, clock skew.
 */

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let app = '';

beforeAll(async () => {
  app = await denoApp('review-deno-kv-app', path.join(import.meta.dirname, 'review-deno-kv'));
  mkdirSync(path.join(app, 'node_modules/@types'));
  symlinkSync(path.join(root, 'node_modules/@types/node'), path.join(app, 'node_modules/@types/node'));
}, 120_000);

it('deno test review_kv_test.ts: sign-outs after a lost or unreadable epoch reach every session; Retry-After not stretched by skew', async () => {
  const child = await run(DENO, ['test', '--cached-only', '--unstable-kv', '--allow-net=127.0.0.1', `--allow-read=${root}`, 'review_kv_test.ts'], {
    cwd: app,
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  }).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`deno test failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });
  expect(child.stdout).toMatch(/ok \| 4 passed \| 0 failed/);
}, 90_000);
