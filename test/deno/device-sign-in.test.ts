import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { approveDeviceSignIn } from '../support/device-person.js';
import { DENO, denoApp } from '../support/deno-app.js';
import { type OpenIdProvider, startOpenIdProvider } from '../support/openid-provider.js';

// deviceSignIn from real Deno (the packed package) with the permissions docs/batch-jobs.md lists for a `{ path }`
// store and localSharing: the person approves through the provider's pages, the refresh token goes to the file,
// signOut revokes it and deletes the file.

const root = path.resolve(import.meta.dirname, '../..');
const clientId = 'device-deno';
let provider: OpenIdProvider;
let app = '';
let parent = '';

beforeAll(async () => {
  // The provider names a 1 s polling interval: what this file proves does not depend on the 5 s default.
  provider = await startOpenIdProvider({ clients: [{ clientId, redirectUris: ['http://127.0.0.1/unused'] }], deviceFlow: true, deviceInterval: 1 });
  app = await denoApp('deno-device-sign-in', path.join(import.meta.dirname, 'device-sign-in'));
  parent = mkdtempSync(path.join(tmpdir(), 'deno-device-'));
}, 120_000);

afterAll(async () => {
  await provider?.close();
  rmSync(parent, { recursive: true, force: true });
});

it('signs in from Deno: one prompt, the file written then deleted by signOut, which revokes', async () => {
  const file = path.join(parent, 'config', 'token.json');
  const config = { issuer: provider.issuer, clientId, file, dir: path.join(parent, 's') };
  const flags = ['--allow-net', '--allow-sys=uid', `--allow-read=${root},${parent}`, `--allow-write=${parent}`];
  const child = spawn(DENO, ['run', '--cached-only', ...flags, 'main.ts', JSON.stringify(config)], {
    cwd: app,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => child.kill(), 60_000);
  let result: Record<string, unknown> | undefined;
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith('PROMPT ')) {
        const { verificationUri, userCode } = JSON.parse(line.slice(7)) as { verificationUri: string; userCode: string };
        await approveDeviceSignIn(verificationUri, userCode, { login: 'frank' });
      }
      if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as Record<string, unknown>;
    }
  } finally {
    clearTimeout(timer);
    child.kill();
  }
  expect(result).toEqual({ same: true, prompts: 1, storedMode: '600', afterSignOut: 'login_required', errors: [] });
  expect(existsSync(file)).toBe(false);
  expect(provider.counts).toMatchObject({ deviceAuthorizations: 1, deviceGrants: 1, revocations: 1 });
}, 90_000);
